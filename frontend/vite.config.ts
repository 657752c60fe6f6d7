import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

// The server is the only backend: in `npm run dev`, Vite proxies it (run `chinwag serve`
// on port 8000 beside it). `npm run build` writes into the Python package, which serves it.
const backend = process.env.DEV_BACKEND ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: '../src/chinwag/static',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': backend,
      '/media': backend,
      '/socket.io': { target: backend, ws: true },
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
})
