// A local SMSC for the SMPP end-to-end tests, built on the npm `smpp` package's server.
//
//   node smsc.js PORT LOG_PATH      env: SMSC_MO_TEXT, SMSC_EXIT_AFTER
//
// Accepts any bind, answers every submit_sm with a fresh message id, logs each submit_sm as
// one JSON line to LOG_PATH (what the test checks), and sends a delivery receipt
// (`id:... stat:DELIVRD`) for each part that asked for one. After the last part of a message
// it sends SMSC_MO_TEXT back from the recipient, as a subscriber's reply, when set.
// With SMSC_EXIT_AFTER=N it answers N submit_sm, leaves later ones unanswered and exits
// 100 ms later: an SMSC that dies in the middle of a long message.
'use strict';
const fs = require('fs');
const smpp = require('smpp');

const [port, logPath] = [Number(process.argv[2]), process.argv[3]];
const moText = process.env.SMSC_MO_TEXT || '';
const exitAfter = Number(process.env.SMSC_EXIT_AFTER || 0);
let nextId = 1;
let taken = 0;

function stamp(date) {
  const two = (n) => String(n).padStart(2, '0');
  return `${two(date.getUTCFullYear() % 100)}${two(date.getUTCMonth() + 1)}` +
    `${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}`;
}

const server = smpp.createServer((session) => {
  for (const bind of ['bind_transceiver', 'bind_transmitter']) {
    session.on(bind, (pdu) => session.send(pdu.response()));
  }
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('error', () => session.close());
  session.on('submit_sm', (pdu) => {
    if (exitAfter && taken >= exitAfter) {
      return; // dying: this one is never answered
    }
    taken += 1;
    const id = `${process.pid.toString(16)}${(nextId++).toString(16).padStart(6, '0')}`;
    const sm = pdu.short_message;
    const udh = Buffer.concat(sm.udh || []).toString('hex');
    const last = !udh || sm.udh[0][4] === sm.udh[0][3]; // 00 03 ref total seq
    fs.appendFileSync(logPath, JSON.stringify({
      message_id: id, pid: process.pid, source_addr: pdu.source_addr,
      destination_addr: pdu.destination_addr, esm_class: pdu.esm_class,
      data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery,
      udh, text: sm.message,
    }) + '\n');
    session.send(pdu.response({ message_id: id }));
    if (exitAfter && taken >= exitAfter) {
      setTimeout(() => process.exit(0), 100);
      return;
    }
    if (pdu.registered_delivery & 1) {
      const now = stamp(new Date());
      session.deliver_sm({
        source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 4,
        short_message: `id:${id} sub:001 dlvrd:001 submit date:${now} done date:${now} ` +
          'stat:DELIVRD err:000 text:',
      });
    }
    if (last && moText) {
      session.deliver_sm({
        source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 0,
        short_message: moText,
      });
    }
  });
});
server.listen(port, '127.0.0.1');
