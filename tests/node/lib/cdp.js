'use strict';
// A chrome-remote-interface client on a started target (lib/target.js), the
// ordinary way (CDP({host, port}) fetches /json/protocol and /json/list
// first), closed when the test ends unless the endpoint closed it already.

const CDP = require('chrome-remote-interface');

async function connect(tg) {
  const client = await CDP({ host: '127.0.0.1', port: tg.port });
  let closed = false;
  client.on('disconnect', () => (closed = true));
  tg.onCleanup(() => (closed ? undefined : client.close()));
  return client;
}

module.exports = { connect };
