// The demo client: sign in with a pasted token, page through the customers, open one's 360°
// view, record an interaction, and see the customer's interactions arrive live.
import { GraphQLError, Socket, request } from './graphql.js';

const VIEWER = `{ viewer { role user { name } tenant { name } } }`;
const CUSTOMERS = `query Customers($after: String) {
  customers(first: 20, after: $after) {
    totalCount
    nodes { id name tier lifecycleStage }
    pageInfo { hasNextPage endCursor }
  }
}`;
const SHOWN = `fragment Shown on Interaction { id kind summary occurredAt staff { name } }`;
const STATS = `fragment Stats on CustomerStats {
  interactionCount lastInteractionAt purchaseCount purchaseTotal baseCurrency openComplaints averageSatisfaction
}`;
const CUSTOMER = `query Customer($id: ID!) {
  customer(id: $id) {
    id name kind status tier lifecycleStage region industry email phone tags owner { name }
    stats { ...Stats }
    openComplaints(first: 5) { title severity status resolutionDueAt }
    interactions(first: 10) { nodes { ...Shown } }
  }
} ${SHOWN} ${STATS}`;
const CUSTOMER_STATS = `query CustomerStats($id: ID!) { customer(id: $id) { stats { ...Stats } } } ${STATS}`;
const RECORD = `mutation Record($input: RecordInteractionInput!) {
  recordInteraction(input: $input) { ...Shown }
} ${SHOWN}`;
const LIVE = `subscription Live($id: ID!) {
  interactionRecorded(customerId: $id) { kind interactionId interaction { ...Shown } }
} ${SHOWN}`;

const TIERS = { KEY_PRIMARY: '核心大客户', KEY_SECONDARY: '重点客户', ORDINARY: '普通客户', SMALL: '小客户' };
const STAGES = { PROSPECT: '潜在', NEW: '新客', ACTIVE: '活跃', LOYAL: '忠诚', AT_RISK: '流失风险', CHURNED: '已流失' };
const KINDS = {
  VISIT: '拜访', CALL: '电话', EMAIL: '邮件', MEETING: '会议', MESSAGE: '消息', FOLLOW_UP: '跟进',
  SURVEY: '调研', CARE: '关怀', SUPPORT: '支持', EVENT: '活动', PURCHASE: '购买',
};
const TOKEN_KEY = 'guanxi.token';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let after = null; // the end cursor of the customers shown so far
let open = null; // the customer on view: { id, stop, shown: Map of interaction id to its <li> }
let socket = null;
let pending = null; // a recording sent without a settled answer: { fields, key, input }

/** An element with properties and children; the page never writes data as HTML. */
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
const badge = (labels, value) =>
  el('span', { className: `badge ${value ?? ''}`, title: value ?? '', textContent: labels[value] ?? '—' });
const when = (time) => time && new Date(time).toLocaleString(navigator.languages);
const facts = (pairs) =>
  pairs
    .filter(([, value]) => value != null && value !== '')
    .flatMap(([term, value]) => [el('dt', { textContent: term }), el('dd', { textContent: value })]);
// randomUUID exists only in secure contexts (https, localhost): a server opened over the LAN
// by plain http gets random bits another way.
const newKey = () =>
  crypto.randomUUID?.() ??
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

/** Shows an error as the server worded it, and acts on its code. */
function fail(err) {
  showError(err.message);
  if (err.code === 'UNAUTHENTICATED') signOut(); // a bad or expired token: ask for another
  if (err.code === 'NOT_FOUND') closeCustomer();
}

async function signIn(value) {
  token = value;
  showError('');
  try {
    const { viewer } = await request(token, VIEWER);
    sessionStorage.setItem(TOKEN_KEY, token);
    $('who').textContent = `${viewer.user.name ?? ''} · ${viewer.role} · ${viewer.tenant.name}`;
    $('sign-in').hidden = true;
    $('workspace').hidden = $('sign-out').hidden = false;
    $('customers').replaceChildren();
    after = null;
    await loadCustomers();
  } catch (err) {
    fail(err);
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  closeCustomer();
  socket?.close();
  socket = null;
  $('who').textContent = '';
  $('sign-in').reset();
  $('sign-in').hidden = false;
  $('workspace').hidden = $('sign-out').hidden = true;
}

async function loadCustomers() {
  const { customers } = await request(token, CUSTOMERS, { after });
  $('total').textContent = `共 ${customers.totalCount} · ${customers.totalCount} in all`;
  $('customers').append(
    ...customers.nodes.map((c) =>
      el('li', {}, el('button', { type: 'button', onclick: (e) => openCustomer(c.id, e.currentTarget) },
        el('strong', { textContent: c.name }), badge(TIERS, c.tier), badge(STAGES, c.lifecycleStage))),
    ),
  );
  after = customers.pageInfo.endCursor;
  $('more').hidden = !customers.pageInfo.hasNextPage;
}

async function openCustomer(id, button) {
  closeCustomer();
  showError('');
  if (button) {
    document.querySelector('#customers .current')?.classList.remove('current');
    button.classList.add('current');
  }
  const view = { id, stop: null, shown: new Map() };
  open = view;
  try {
    const { customer } = await request(token, CUSTOMER, { id });
    if (open !== view) return; // another customer was opened meanwhile
    if (!customer) return showError('找不到该客户 This customer is gone.');
    showCustomer(customer);
    customer.interactions.nodes.forEach((i) => showInteraction(view, i, false));
    $('detail').hidden = false;
    await listen(view);
  } catch (err) {
    fail(err);
  }
}

function closeCustomer() {
  open?.stop?.();
  open = null;
  $('detail').hidden = true;
  $('timeline').replaceChildren();
  $('violations').replaceChildren();
  $('live').textContent = '';
}

function showCustomer(c) {
  $('customer-name').textContent = c.name;
  $('facts').replaceChildren(...facts([
    ['价值层级 Tier', TIERS[c.tier] && `${TIERS[c.tier]} ${c.tier}`],
    ['生命周期 Stage', STAGES[c.lifecycleStage] && `${STAGES[c.lifecycleStage]} ${c.lifecycleStage}`],
    ['类型 Kind', c.kind], ['状态 Status', c.status], ['负责人 Owner', c.owner?.name],
    ['地区 Region', c.region], ['行业 Industry', c.industry], ['邮箱 Email', c.email], ['电话 Phone', c.phone],
    ['标签 Tags', c.tags.join('、')],
  ]));
  showStats(c.stats);
  $('complaints').replaceChildren(
    ...c.openComplaints.map((k) =>
      el('li', { textContent: `${k.title} · ${k.severity} · ${k.status} · 处理期限 due ${when(k.resolutionDueAt)}` })),
  );
  if (!c.openComplaints.length) $('complaints').append(el('li', { textContent: '无 None' }));
}

function showStats(s) {
  $('stats').replaceChildren(...facts([
    ['互动 Interactions', s.interactionCount], ['最近互动 Last contact', when(s.lastInteractionAt)],
    ['购买 Purchases', s.purchaseCount], ['购买总额 Total', `${s.purchaseTotal} ${s.baseCurrency}`],
    ['满意度 Satisfaction', s.averageSatisfaction?.toFixed(1)], ['未结投诉 Open complaints', s.openComplaints],
  ]));
}

/** The timeline changed: the stats beside it are read again. */
async function refreshStats(view) {
  try {
    const { customer } = await request(token, CUSTOMER_STATS, { id: view.id });
    if (open === view && customer) showStats(customer.stats);
  } catch (err) {
    fail(err);
  }
}

/** Shows an interaction on the timeline: in place if shown already, else first (fresh) or last. */
function showInteraction(view, i, fresh) {
  const item = el('li', { className: fresh ? 'fresh' : '' },
    el('time', { textContent: when(i.occurredAt) }), ' ', badge(KINDS, i.kind), ' ', i.summary ?? '',
    el('span', { className: 'staff', textContent: i.staff?.name ? ` — ${i.staff.name}` : '' }));
  const shown = view.shown.get(i.id);
  if (shown) shown.replaceWith(item);
  else if (fresh) $('timeline').prepend(item);
  else $('timeline').append(item);
  view.shown.set(i.id, item);
}

/** Subscribes to the open customer's interactions, on the page's socket (opened if need be). */
async function listen(view) {
  socket ??= connect();
  const stop = await socket.subscribe(LIVE, { id: view.id }, {
    next: ({ data, errors }) => (errors ? fail(new GraphQLError(errors)) : heard(view, data.interactionRecorded)),
    error: fail,
  });
  if (open !== view) return stop();
  view.stop = stop;
  $('live').className = '';
  $('live').textContent = '● 实时 Live';
}

function heard(view, { kind, interactionId, interaction }) {
  if (open !== view) return;
  if (!interaction) {
    view.shown.get(interactionId)?.remove(); // deleted, or no longer the caller's to see
    view.shown.delete(interactionId);
  } else if (kind === 'CREATED' && view.shown.has(interactionId)) {
    return; // the page's own recording, shown already
  } else {
    showInteraction(view, interaction, true);
  }
  refreshStats(view);
}

function connect() {
  const s = new Socket(token);
  s.closed.then(({ code, reason }) => {
    if (socket !== s) return; // signed out
    socket = null;
    $('live').className = 'off';
    $('live').textContent = `○ 已断开 Disconnected (${code} ${reason})`;
    // 4403: the token was refused or has expired, and another attempt would be refused too.
    // Otherwise reopen the customer a little later: that reads what changed meanwhile.
    if (code !== 4403) setTimeout(() => open && socket === null && openCustomer(open.id), 3000);
  });
  return s;
}

async function record(form) {
  const fields = JSON.stringify({ customerId: open.id, kind: form.kind.value, summary: form.summary.value });
  // A retry of a recording that got no settled answer is sent again as it was, key and all, so
  // the server records it at most once; anything else is a new recording with a key of its own.
  if (pending?.fields !== fields) {
    pending = { fields, key: newKey(), input: { ...JSON.parse(fields), occurredAt: new Date().toISOString() } };
  }
  const view = open;
  form.querySelector('button').disabled = true;
  $('violations').replaceChildren();
  showError('');
  try {
    const { recordInteraction } = await request(token, RECORD, { input: pending.input }, pending.key);
    pending = null;
    form.summary.value = '';
    if (open === view) {
      showInteraction(view, recordInteraction, true);
      refreshStats(view);
    }
  } catch (err) {
    // Any answer settles the recording but IN_PROGRESS (the first attempt still runs); without
    // an answer, the next click retries it.
    if (err instanceof GraphQLError && err.extensions.reason !== 'IN_PROGRESS') pending = null;
    const violations = err.code === 'BAD_USER_INPUT' ? err.extensions.violations ?? [] : [];
    if (violations.length) {
      $('violations').replaceChildren(...violations.map((v) => el('li', { textContent: `${v.field}: ${v.message}` })));
    } else {
      fail(err);
    }
  } finally {
    form.querySelector('button').disabled = false;
  }
}

$('record').kind.append(
  ...Object.entries(KINDS).map(([value, label]) => el('option', { value, textContent: `${label} ${value}` })),
);
$('record').onsubmit = (e) => {
  e.preventDefault();
  record(e.target);
};
$('sign-in').onsubmit = (e) => {
  e.preventDefault();
  signIn(e.target.token.value.trim().replace(/^Bearer\s+/i, ''));
};
$('sign-out').onclick = signOut;
$('more').onclick = () => loadCustomers().catch(fail);

if (token) signIn(token);
