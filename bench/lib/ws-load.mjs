#!/usr/bin/env node
/**
 * A WebSocket load: CONNECTIONS clients each send a SIZE-byte binary message and wait
 * for its echo, again and again for SECONDS (a closed loop, as wrk does for requests).
 * Prints one JSON line: messages echoed, seconds, p50 and p99 round trips (ms), errors.
 * Runs in a process of its own, so that it does not share an event loop with the server.
 *
 *   node bench/lib/ws-load.mjs ws://127.0.0.1:8080/ 100 5 1024
 */
import WebSocket from 'ws';

const [url = '', connections = '100', seconds = '5', size = '1024'] = process.argv.slice(2);
const payload = Buffer.alloc(Number(size), 0x61);
/** @type {number[]} */
const latencies = [];
let errors = 0;
let running = true;

/** @returns {Promise<void>} One client, until the time is up. */
function client() {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      socket.send(payload);
    };
    socket.on('open', send);
    socket.on('message', () => {
      latencies.push(performance.now() - sentAt);
      if (running) send();
      else socket.close();
    });
    socket.on('error', () => errors++);
    socket.on('close', () => resolve());
  });
}

const clients = [];
for (let i = 0; i < Number(connections); i++) clients.push(client());
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
running = false;
const elapsed = (performance.now() - started) / 1000;
const measured = latencies.length;
await Promise.race([Promise.all(clients), new Promise((resolve) => setTimeout(resolve, 5000))]);
latencies.sort((a, b) => a - b);
/** @param {number} q */
const quantile = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ messages: measured, seconds: elapsed, p50: quantile(0.5), p99: quantile(0.99), errors })}\n`);
process.exit(0);
