// Experiment only (`npm run bench -- --nodelay-shim`): preloaded into the bridge with --import,
// it turns on TCP_NODELAY for every socket made with net.createConnection, which is how mqtt.js
// opens its broker connection. It shows what the bridge would gain from setting it itself.
import net from "node:net";

const createConnection = net.createConnection;
net.createConnection = function (...args) {
  const socket = createConnection.apply(this, args);
  socket.setNoDelay(true);
  return socket;
};
