/**
 * The start-up benchmarks' finish line: a GET / answered 200, polled every millisecond
 * until the port accepts (bench/startup.mjs, bench/first-request.mjs).
 */
import http from 'node:http';

/**
 * Answers whether GET / on `port` was answered 200 (false: refused or failed).
 * @param {number} port
 * @returns {Promise<boolean>}
 */
export const answered = (port) =>
  new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
    });
    request.on('error', () => resolve(false));
  });

/**
 * Polls `port` every millisecond until a request is answered; rejects if `child` exits first.
 * @param {number} port
 * @param {import('node:child_process').ChildProcess} child
 * @param {() => string} output
 */
export async function untilAnswered(port, child, output) {
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (await answered(port)) return;
    if (exited) throw new Error(`exited before answering:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
