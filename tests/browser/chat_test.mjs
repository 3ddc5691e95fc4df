// The chat demo's browser page (godot-project/demo/web/chat.html) in headless Chromium, against
// the chat server and a bot in a headless Godot (godot-project/tests/servers/browser_chat_server.gd).
// Run it through scripts/run-browser-test.sh, which installs playwright-core into .cache/node,
// starts Godot and passes:
//   node tests/browser/chat_test.mjs --page URL --http-port N --godot-log FILE \
//        --web-dir godot-project/demo/web --modules .cache/node [--screenshot FILE]
// (--modules: the folder whose node_modules holds playwright-core).
// Prints "ok ..." / "FAIL ..." per check; exits 1 if any check failed.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';

const STEP_TIMEOUT_MS = 10_000;
const TOTAL_TIMEOUT_MS = 150_000;
// From the verified set-up notes: a quiet headless Chromium that never phones home.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

const args = parseArgs(process.argv.slice(2));
for (const key of ['page', 'http-port', 'godot-log', 'web-dir', 'modules']) {
  if (!args[key]) {
    console.error(`chat_test.mjs: --${key} is missing`);
    process.exit(2);
  }
}
// playwright-core lives in .cache/node (never in the repository): resolve it from there.
const { chromium } = createRequire(path.join(path.resolve(args.modules), 'package.json'))('playwright-core');
const httpPort = Number(args['http-port']);
const wsPort = Number(new URL(args.page).searchParams.get('ws'));

let passed = 0;
let failed = 0;
const ok = (what) => { passed++; console.log(`ok ${what}`); };
const fail = (what) => { failed++; console.log(`FAIL ${what}`); };
class Abort extends Error {}

// check(what, fn): fn throws (or returns false) to fail; a string it returns is shown.
async function check(what, fn, { critical = false } = {}) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    fail(`${what}: ${String(e.message || e).split('\n')[0]}`);
    if (critical) throw new Abort(what);
    return false;
  }
  if (result === false) {
    fail(what);
    if (critical) throw new Abort(what);
    return false;
  }
  ok(typeof result === 'string' ? `${what} (${result})` : what);
  return true;
}

function expectEq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function parseArgs(list) {
  const out = {};
  for (let i = 0; i < list.length; i++) {
    if (!list[i].startsWith('--')) continue;
    const next = list[i + 1];
    out[list[i].slice(2)] = next === undefined || next.startsWith('--') ? true : (i++, next);
  }
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ the Godot side's log
function godotLog() {
  return fs.readFileSync(args['godot-log'], 'utf8');
}

// Waits until the Godot log has `line` as a whole line.
async function waitForLogLine(line, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (godotLog().split('\n').includes(line)) return;
    if (Date.now() > deadline) throw new Error(`the Godot log has no line ${JSON.stringify(line)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------ raw HTTP to page_server.gd
// Sends `chunks` (strings or Buffers) with `gapMs` between them; resolves with the whole answer
// once the server closes the connection.
function rawHttp(chunks, { gapMs = 0, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(httpPort, '127.0.0.1');
    const received = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => received.push(d));
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(received);
      const split = raw.indexOf('\r\n\r\n');
      const head = (split < 0 ? raw : raw.subarray(0, split)).toString('latin1').split('\r\n');
      const headers = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number((/^HTTP\/1\.1 (\d{3}) /.exec(head[0]) || [])[1] || 0);
      resolve({ status, headers, body: split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4), statusLine: head[0] });
    });
    socket.on('connect', async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0 && gapMs) await sleep(gapMs);
        if (socket.destroyed) return;
        socket.write(chunks[i]);
      }
    });
  });
}

const get = (target, method = 'GET') => rawHttp([`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`]);

async function httpChecks() {
  const webFile = (name) => fs.readFileSync(path.join(args['web-dir'], name));
  for (const [target, file, type] of [
    ['/', 'chat.html', 'text/html; charset=utf-8'],
    ['/chat.html?ws=1234#x', 'chat.html', 'text/html; charset=utf-8'],
    ['/chat.js', 'chat.js', 'text/javascript; charset=utf-8'],
    ['/chat.css', 'chat.css', 'text/css; charset=utf-8'],
  ]) {
    await check(`page server: GET ${target} is 200, ${type}, the file's bytes, Connection: close`, async () => {
      const r = await get(target);
      expectEq(r.status, 200, 'status');
      expectEq(r.headers['content-type'], type, 'Content-Type');
      expectEq(r.headers.connection, 'close', 'Connection');
      expectEq(Number(r.headers['content-length']), r.body.length, 'Content-Length against the body');
      if (!r.body.equals(webFile(file))) throw new Error(`the body differs from ${file}`);
    });
  }
  await check('page server: HEAD / has the headers and no body', async () => {
    const r = await get('/', 'HEAD');
    expectEq([r.status, Number(r.headers['content-length']), r.body.length],
      [200, webFile('chat.html').length, 0], '[status, Content-Length, body bytes]');
  });
  // Anything outside the folder's own page files: other folders, traversal in every spelling,
  // the folder's scripts, names it does not have.
  const notFound = ['/nope.html', '/page_server.gd', '/../project.godot', '/..%2fproject.godot',
    '/%2e%2e/project.godot', '/..', '/.', '//etc/passwd', '/demo/web/chat.html', '/web/chat.html',
    '/..\\project.godot', '/chat.html%00.gd', '/.chat.html', '/chat.html/', '/%63hat.html',
    '/CHAT.HTML', '/res:/demo/web/chat.html', '/chat.gd'];
  await check(`page server: ${notFound.length} paths outside its page files are 404`, async () => {
    const got = [];
    for (const target of notFound) got.push(`${target} ${(await get(target)).status}`);
    expectEq(got, notFound.map((t) => `${t} 404`), 'statuses');
  });
  await check('page server: a request target without a leading "/" is 400', async () => {
    expectEq((await get('../project.godot')).status, 400, 'status');
  });
  await check('page server: POST is 405 with "Allow: GET, HEAD"', async () => {
    const r = await rawHttp(['POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n']);
    expectEq([r.status, r.headers.allow], [405, 'GET, HEAD'], '[status, Allow]');
  });
  await check('page server: not HTTP at all is 400', async () => {
    expectEq((await rawHttp(['hello there\r\n\r\n'])).status, 400, 'status');
  });
  await check('page server: non-ASCII bytes in the path are a 404, not a crash', async () => {
    expectEq((await rawHttp([Buffer.from('GET /\xff\xfe\u00e9.html HTTP/1.1\r\n\r\n', 'latin1')])).status, 404, 'status');
  });
  await check('page server: a request head over 8 KiB is 431', async () => {
    const r = await rawHttp([`GET / HTTP/1.1\r\nX-Filler: ${'a'.repeat(9000)}`]);
    expectEq(r.status, 431, 'status');
  });
  await check('page server: a request arriving in 4 pieces, 150 ms apart, is answered', async () => {
    const r = await rawHttp(['GE', 'T /chat.c', 'ss HTTP/1.1\r\nHost: 127.0', '.0.1\r\n\r\n'], { gapMs: 150 });
    expectEq(r.status, 200, 'status');
  });
  await check('page server: 20 idle connections (more than it serves at once) do not keep the page from loading', async () => {
    const idle = await Promise.all(Array.from({ length: 20 }, () => new Promise((resolve, reject) => {
      const socket = net.connect(httpPort, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    })));
    try {
      await sleep(200);
      const started = Date.now();
      const r = await rawHttp(['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'], { timeoutMs: 3000 });
      expectEq(r.status, 200, 'status');
      return `answered in ${Date.now() - started} ms`;
    } finally {
      idle.forEach((socket) => socket.destroy());
    }
  });
  await check('page server: a slow client does not hold up the others', async () => {
    const slow = rawHttp(['GET / HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n\r\n'], { gapMs: 1500 });
    const started = Date.now();
    const quick = await get('/chat.js');
    const quickMs = Date.now() - started;
    expectEq((await slow).status, 200, 'the slow request');
    expectEq(quick.status, 200, 'the quick request');
    if (quickMs > 1000) throw new Error(`the quick request took ${quickMs} ms`);
    return `answered in ${quickMs} ms`;
  });
}

// ------------------------------------------------------------------ the page
async function openPage(context, url, name, problems) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`${name} console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`${name} page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`${name} request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`${name} HTTP ${res.status()}: ${res.url()}`); });
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

// page.waitForFunction, polling on a timer: its default polls on animation frames, which a tab
// that is not in front gets rarely (with two tabs, one of them waits seconds for nothing).
function until(page, fn, arg, timeout = STEP_TIMEOUT_MS) {
  return page.waitForFunction(fn, arg, { polling: 50, timeout });
}

const myId = (page) => page.evaluate(() => Number(document.body.dataset.myId));
// "client N", and "client N (you)" for the page's own entry (marked with a "you" badge).
const peerTexts = (page) => page.$$eval('#peers li', (lis) => lis.map((li) =>
  li.querySelector('.name').textContent + (li.querySelector('.you') ? ' (you)' : '')));

// Clicks as a person would: on the tab in front (playwright's checks before a click wait for
// animation frames too).
async function click(page, selector) {
  await page.bringToFront();
  await page.click(selector);
}

async function connect(page) {
  await click(page, '#connect');
  await until(page, () => document.body.dataset.state === 'open' && document.body.dataset.myId !== '0');
  return myId(page);
}

// Waits for a log entry of `kind` whose text is exactly `text` (and from `from`, if given).
function waitForEntry(page, kind, text, from = 0, timeout = STEP_TIMEOUT_MS) {
  return until(page, ({ kind, text, from }) =>
    [...document.querySelectorAll(`#log .entry[data-kind="${kind}"]`)].some((e) =>
      e.querySelector('.text').textContent === text && (!from || e.dataset.from === String(from))),
  { kind, text, from }, timeout);
}

// Types `text` into the message line, as a person would, and presses Enter.
async function say(page, text, { typed = true } = {}) {
  await page.bringToFront();
  const input = page.locator('#message');
  if (typed) await input.pressSequentially(text, { delay: 5 });
  else await input.fill(text); // emoji and other text a keyboard map lacks
  await input.press('Enter');
}

async function browserChecks(browser) {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 }, deviceScaleFactor: 1 });
  const problems = [];
  let main;
  let guest;
  let me = 0;
  let guestId = 0;
  let botId = 0;

  await check('Godot bot is in the chat', async () => {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (!(botId = Number(godotLog().match(/^BOT ID (\d+)$/m)?.[1] ?? 0)) && Date.now() < deadline) await sleep(50);
    if (!botId) throw new Error('no "BOT ID" line in the Godot log');
    return `client ${botId}`;
  }, { critical: true });

  await check('the page loads from page_server.gd (title, URL field defaults to ws://<host>:<?ws=PORT>)', async () => {
    main = await openPage(context, args.page, 'page', problems);
    expectEq(await main.title(), 'WebSocketServer chat', 'title');
    expectEq(await main.inputValue('#url'), `ws://127.0.0.1:${wsPort}`, 'URL field');
    expectEq(await main.evaluate(() => document.body.dataset.state), 'closed', 'state before connecting');
    if (!(await main.isDisabled('#message')) || !(await main.isDisabled('#send'))) throw new Error('the input line is enabled before connecting');
  }, { critical: true });

  await check('without ?ws= the URL field defaults to port 9080', async () => {
    const plain = await openPage(context, `http://127.0.0.1:${httpPort}/`, 'plain page', problems);
    const value = await plain.inputValue('#url');
    await plain.close();
    expectEq(value, 'ws://127.0.0.1:9080', 'URL field');
  });

  await check('Connect: the page joins the chat and learns its id from the welcome notice', async () => {
    me = await connect(main);
    if (!new RegExp(`^\\[server\\] client ${me} connected from 127\\.0\\.0\\.1:\\d+$`, 'm').test(godotLog())) {
      throw new Error(`the server log has no "client ${me} connected" line`);
    }
    expectEq(await main.textContent('#status'), `Connected as client ${me}`, 'status');
    return `client ${me}`;
  }, { critical: true });

  await check('peer list: the bot (from the "* peers:" notice) and the page itself', async () => {
    await until(main, (n) => document.querySelectorAll('#peers li').length === n, 2);
    expectEq(await peerTexts(main), [`client ${me} (you)`, `client ${botId}`], 'peers');
    expectEq(await main.textContent('#peer-count'), '2', 'count');
  });

  await check('bot → browser: the bot\'s greeting appears, from the bot\'s id', async () => {
    await waitForEntry(main, 'chat', `hi ${me}! I am a bot on Godot's WebSocketPeer: say something and I will repeat it.`, botId);
  });

  const hello = 'Hello from Chromium!';
  await check('browser → bot: a line typed and sent with Enter reaches the Godot bot as "[id] text"', async () => {
    await say(main, hello);
    expectEq(await main.inputValue('#message'), '', 'the input line after Enter');
    await waitForEntry(main, 'own', hello);
    await waitForLogLine(`BOT GOT: [${me}] ${hello}`);
  });
  await check('bot → browser: the bot\'s answer appears in the page', async () => {
    await waitForEntry(main, 'chat', `bot heard: ${hello}`, botId);
  });

  await check('a second browser tab joins: the first one\'s peer list grows ("* N joined")', async () => {
    guest = await openPage(context, args.page, 'second tab', problems);
    guestId = await connect(guest);
    await until(main, (id) => !!document.querySelector(`#peers li[data-id="${id}"]`), guestId);
    expectEq(await peerTexts(main), [`client ${me} (you)`, `client ${botId}`, `client ${guestId}`], 'first tab\'s peers');
    await waitForEntry(main, 'notice', `client ${guestId} joined.`);
  });
  await check('the second tab\'s peer list has everyone who was there before it', async () => {
    await until(guest, () => document.querySelectorAll('#peers li').length === 3);
    const got = await peerTexts(guest);
    expectEq([...got].sort(), [`client ${botId}`, `client ${guestId} (you)`, `client ${me}`].sort(), 'second tab\'s peers');
  });
  const wave = 'hi all 👋 the second tab here';
  await check('browser → browser: the second tab\'s line reaches the first one', async () => {
    await say(guest, wave, { typed: false });
    await waitForEntry(main, 'chat', wave, guestId);
    await waitForLogLine(`BOT GOT: [${guestId}] ${wave}`);
    await waitForEntry(main, 'chat', `bot heard: ${wave}`, botId);
  });

  const unicode = 'ünïcödé ✓ 日本語 — Ελληνικά 🎉';
  await check('unicode survives browser → Godot → browser', async () => {
    await say(main, unicode, { typed: false });
    await waitForLogLine(`BOT GOT: [${me}] ${unicode}`);
    await waitForEntry(main, 'chat', `bot heard: ${unicode}`, botId);
    await waitForEntry(guest, 'chat', unicode, me);
  });

  if (args.screenshot) {
    await check(`screenshot of the page (900x600) in ${args.screenshot}`, async () => {
      fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
      await main.bringToFront();
      await main.locator('#message').fill('Nice, it works in the browser too');
      await main.evaluate(() => { const log = document.getElementById('log'); log.scrollTop = log.scrollHeight; });
      await main.screenshot({ path: args.screenshot });
      await main.locator('#message').fill('');
    });
  }

  const markup = '<b>not bold</b> <img src=x onerror="window.__injected = 1"> & "quotes" [b]x[/b]';
  await check('received text is shown as text, never as HTML', async () => {
    await say(main, markup, { typed: false });
    await waitForEntry(main, 'chat', `bot heard: ${markup}`, botId);
    await waitForEntry(guest, 'chat', markup, me);
    for (const page of [main, guest]) {
      const elements = await page.$$eval('#log b, #log img', (els) => els.length);
      const injected = await page.evaluate(() => window.__injected);
      expectEq([elements, injected ?? null], [0, null], '[<b>/<img> elements in the log, injected flag]');
    }
  });

  await check('the second tab disconnects: the first one\'s peer list shrinks ("* N left")', async () => {
    await click(guest, '#connect');
    await until(guest, () => document.body.dataset.state === 'closed');
    await waitForEntry(main, 'notice', `client ${guestId} left.`);
    expectEq(await peerTexts(main), [`client ${me} (you)`, `client ${botId}`], 'first tab\'s peers');
    await waitForLogLine(`[server] client ${guestId} disconnected (clean)`);
  });

  await check('Disconnect: the page closes with 1000 and shows the code', async () => {
    await click(main, '#connect');
    await until(main, () => document.body.dataset.state === 'closed');
    await waitForEntry(main, 'system', 'Disconnected: code 1000 (normal closure), reason "bye".');
    expectEq(await peerTexts(main), [], 'peers after disconnecting');
    expectEq(await main.textContent('#status'), 'Disconnected', 'status');
    if (!(await main.isDisabled('#message'))) throw new Error('the input line stays enabled');
  });
  await check('the server saw a clean close from the page (code 1000, reason "bye")', async () => {
    await waitForLogLine(`[server] client ${me} is closing (code 1000, reason "bye")`);
    await waitForLogLine(`[server] client ${me} disconnected (clean)`);
  });

  await check('Connect again: a new id, the bot in the peer list again, and a clean close', async () => {
    const again = await connect(main);
    if (again === me) throw new Error(`the same id ${me} again`);
    await until(main, () => document.querySelectorAll('#peers li').length === 2);
    expectEq(await peerTexts(main), [`client ${again} (you)`, `client ${botId}`], 'peers');
    await click(main, '#connect');
    await until(main, () => document.body.dataset.state === 'closed');
    await waitForLogLine(`[server] client ${again} disconnected (clean)`);
    return `client ${again}`;
  });

  await check('no page errors, console errors, failed or 4xx requests', () => {
    const shown = problems.slice(0, 4).map((p) => (p.length > 200 ? `${p.slice(0, 200)}...` : p));
    if (problems.length) throw new Error(`${problems.length}: ${shown.join(' | ')}${problems.length > 4 ? ' | ...' : ''}`);
  });
  await context.close();
}

// ------------------------------------------------------------------ main
const watchdog = setTimeout(() => {
  fail(`the browser test did not finish within ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

let browser;
try {
  await httpChecks();
  await check(`Chromium starts (${'/usr/bin/chromium'})`, async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    return browser.version();
  }, { critical: true });
  await browserChecks(browser);
} catch (e) {
  if (!(e instanceof Abort)) fail(`the browser test stopped: ${e.stack || e}`);
  else console.log(`(the rest was skipped: "${e.message}" failed)`);
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
console.log(`chat_test.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
