// The one Socket.IO connection, on this origin, authenticated by the session cookie.
import { io, type Socket } from 'socket.io-client'

let socket: Socket | null = null

export function getSocket(): Socket {
  if (socket === null) {
    socket = io({
      path: '/socket.io',
      autoConnect: false,
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    })
  }
  return socket
}
