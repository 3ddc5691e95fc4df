// The chat demo's browser client (chat.html): a plain browser WebSocket speaking the protocol of
// demo/chat_server.gd. Open the link the host prints (http://HOST:PAGEPORT/?ws=WSPORT), or
// chat.html itself and type the server's URL; scripts/run-browser-test.sh tests it in Chromium.
//
// The server sends text messages only:
//   "* welcome, you are client 12345"   this client's id
//   "* peers: 1 2 3"                    who else is there (right after the welcome)
//   "* 12345 joined" / "* 12345 left"   someone came or went
//   "[12345] hello"                     a chat line from client 12345 (never our own)
// Received text is only ever put into the page with textContent, never as HTML.
//
// For tests and curious readers, <body> carries data-state (closed, connecting, open, closing)
// and data-my-id; log entries carry data-kind (own, chat, notice, system, error) and data-from.
'use strict';

(() => {
  const DEFAULT_WS_PORT = 9080;
  const CLOSE_CODES = {
    1000: 'normal closure',
    1001: 'going away',
    1002: 'protocol error',
    1003: 'unsupported data',
    1005: 'no status code',
    1006: 'connection lost without a close frame',
    1007: 'invalid data',
    1008: 'policy violation',
    1009: 'message too big',
    1011: 'server error',
    1015: 'TLS handshake failed',
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'),
    connectForm: $('connect-form'),
    url: $('url'),
    connect: $('connect'),
    log: $('log'),
    peers: $('peers'),
    peerCount: $('peer-count'),
    peersEmpty: $('peers-empty'),
    sendForm: $('send-form'),
    message: $('message'),
    send: $('send'),
  };

  let ws = null;
  let myId = 0;
  // Everyone in the chat, this client included, in the order they became known.
  let peerIds = [];

  // ws://<the page's host>:<?ws=PORT, else 9080>; wss:// when the page itself came over https
  // (a secure page may not open an insecure WebSocket).
  function defaultUrl() {
    const raw = new URLSearchParams(location.search).get('ws');
    const port = raw !== null && /^\d{1,5}$/.test(raw) && +raw >= 1 && +raw <= 65535 ? +raw : DEFAULT_WS_PORT;
    const host = location.hostname || '127.0.0.1'; // empty for file://; "[::1]" keeps its brackets
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${host}:${port}`;
  }

  // Ids get a stable colour, so that a speaker is easy to follow down the log.
  function hue(id) {
    return (id * 137) % 360;
  }

  function who(id) {
    return `client ${id}`;
  }

  function timeNow() {
    const d = new Date();
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }

  function span(className, text) {
    const el = document.createElement('span');
    el.className = className;
    el.textContent = text;
    return el;
  }

  // One line of the log. `from` is the speaker's id for chat lines (0 otherwise).
  function addEntry(kind, text, { from = 0, label = '', raw = null } = {}) {
    const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
    const row = document.createElement('div');
    row.className = `entry ${kind}`;
    row.dataset.kind = kind;
    if (from) row.dataset.from = String(from);
    if (raw !== null) row.dataset.raw = raw;
    row.append(span('time', timeNow()));
    if (label) {
      const name = span('who', label);
      if (from) name.style.setProperty('--hue', String(hue(from)));
      row.append(name);
    }
    row.append(span('text', text));
    ui.log.append(row);
    if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
    return row;
  }

  function setState(state) {
    document.body.dataset.state = state;
    document.body.dataset.myId = String(myId);
    const open = state === 'open';
    ui.status.textContent = {
      closed: 'Disconnected',
      connecting: 'Connecting…',
      open: myId ? `Connected as ${who(myId)}` : 'Connected',
      closing: 'Closing…',
    }[state];
    ui.connect.textContent = state === 'closed' ? 'Connect' : 'Disconnect';
    ui.connect.classList.toggle('leave', state !== 'closed');
    ui.connect.disabled = state === 'closing';
    ui.url.disabled = state !== 'closed';
    ui.message.disabled = !open;
    ui.send.disabled = !open;
    ui.message.placeholder = open
      ? 'Type a message and press Enter'
      : 'Connect first, then type a message and press Enter';
  }

  function renderPeers() {
    ui.peers.replaceChildren();
    for (const id of peerIds) {
      const li = document.createElement('li');
      li.dataset.id = String(id);
      li.style.setProperty('--hue', String(hue(id)));
      li.append(span('name', who(id)));
      if (id === myId) {
        li.className = 'me';
        li.append(span('you', 'you'));
      }
      ui.peers.append(li);
    }
    ui.peerCount.textContent = String(peerIds.length);
    ui.peersEmpty.hidden = peerIds.length > 0;
  }

  function addPeer(id) {
    if (id > 0 && !peerIds.includes(id)) peerIds.push(id);
  }

  function connect() {
    const url = ui.url.value.trim();
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      addEntry('error', `Cannot connect to "${url}": ${e.message}`);
      return;
    }
    ws = socket;
    myId = 0;
    peerIds = [];
    renderPeers();
    setState('connecting');
    addEntry('system', `Connecting to ${url}`);
    socket.onopen = () => {
      if (socket !== ws) return;
      setState('open');
      addEntry('system', 'Connected.');
      ui.message.focus();
    };
    socket.onmessage = (event) => {
      if (socket !== ws) return;
      if (typeof event.data === 'string') {
        onText(event.data);
      } else {
        addEntry('notice', `(a binary message of ${event.data.size} bytes; this chat is text only)`);
      }
    };
    socket.onerror = () => {
      // The browser tells no more than this; the close event that follows has the code.
      if (socket === ws) addEntry('error', 'WebSocket error.');
    };
    socket.onclose = (event) => {
      if (socket !== ws) return;
      ws = null;
      const name = CLOSE_CODES[event.code] ? ` (${CLOSE_CODES[event.code]})` : '';
      const reason = event.reason ? `, reason "${event.reason}"` : '';
      addEntry(event.wasClean ? 'system' : 'error',
        `Disconnected: code ${event.code}${name}${reason}${event.wasClean ? '' : ', not clean'}.`);
      myId = 0;
      peerIds = [];
      renderPeers();
      setState('closed');
    };
  }

  function disconnect() {
    if (!ws) return;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
      setState('closing');
      ws.close(1000, 'bye');
    }
  }

  function onText(text) {
    const chat = /^\[(\d+)\] ([\s\S]*)$/.exec(text);
    if (chat) {
      const from = Number(chat[1]);
      addEntry('chat', chat[2], { from, label: who(from), raw: text });
      return;
    }
    if (!text.startsWith('* ')) {
      addEntry('notice', text, { raw: text });
      return;
    }
    const notice = text.slice(2);
    let m;
    if ((m = /^welcome, you are client (\d+)$/.exec(notice))) {
      myId = Number(m[1]);
      addPeer(myId);
      setState('open');
      addEntry('notice', `Welcome! You are ${who(myId)}.`, { raw: text });
    } else if ((m = /^peers:((?: \d+)*)$/.exec(notice))) {
      const ids = m[1].trim().split(' ').filter(Boolean).map(Number);
      ids.forEach(addPeer);
      addEntry('notice', ids.length ? `Already here: ${ids.map(who).join(', ')}.` : 'Nobody else is here yet.',
        { raw: text });
    } else if ((m = /^(\d+) joined$/.exec(notice))) {
      addPeer(Number(m[1]));
      addEntry('notice', `${who(Number(m[1]))} joined.`, { raw: text });
    } else if ((m = /^(\d+) left$/.exec(notice))) {
      peerIds = peerIds.filter((id) => id !== Number(m[1]));
      addEntry('notice', `${who(Number(m[1]))} left.`, { raw: text });
    } else {
      addEntry('notice', notice, { raw: text });
    }
    renderPeers();
  }

  function send() {
    const text = ui.message.value.trim();
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(text);
    // The server relays a line to everyone but its sender: our own line is shown here.
    addEntry('own', text, { label: 'you' });
    ui.message.value = '';
    ui.message.focus();
  }

  ui.connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (ws) disconnect();
    else connect();
  });
  // A form: Enter in the input line sends, as the Send button does.
  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });

  ui.url.value = defaultUrl();
  renderPeers();
  setState('closed');
  addEntry('system', 'Press Connect to join the chat.');
})();
