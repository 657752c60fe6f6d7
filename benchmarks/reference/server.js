// The reference for Chinwag's benchmarks: a socket.io 4 server with Chinwag's room semantics
// and nothing stored. `room:enter` {room} joins the room (acked), `message:send`
// {room, body, client_id} broadcasts a `message` to the room (the sender's own connection
// included) and acks {ok: true, message} to the sender. No authentication, no persistence.
//
//   node server.js PORT        (prints "listening PORT" when ready)
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3000);
const httpServer = http.createServer((req, res) => {
  res.writeHead(req.url === "/readyz" ? 200 : 404, { "content-type": "text/plain" });
  res.end(req.url === "/readyz" ? "ok" : "not found");
});
const io = new Server(httpServer, { serveClient: false });

let nextId = 0;
const lastSeq = new Map();

io.on("connection", (socket) => {
  socket.on("room:enter", (data, ack) => {
    const room = data && typeof data.room === "string" ? data.room : null;
    if (room === null) return typeof ack === "function" && ack({ ok: false });
    socket.join(room);
    if (typeof ack === "function") {
      ack({ ok: true, room: { code: room }, online: [], last_seq: lastSeq.get(room) || 0 });
    }
  });
  socket.on("message:send", (data, ack) => {
    const room = data && typeof data.room === "string" ? data.room : null;
    if (room === null || !socket.rooms.has(room)) {
      return typeof ack === "function" && ack({ ok: false });
    }
    const seq = (lastSeq.get(room) || 0) + 1;
    lastSeq.set(room, seq);
    const message = {
      id: ++nextId,
      room,
      seq,
      sender: { username: socket.id },
      to: null,
      body: data.body,
      created_at: new Date().toISOString(),
      client_id: data.client_id,
    };
    io.to(room).emit("message", message);
    if (typeof ack === "function") ack({ ok: true, message, duplicate: false });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
