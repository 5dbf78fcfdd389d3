// The operator console in a real browser (Debian's chromium driven by npm playwright-core, no test runner): run by
// tests/Backstop.Tests/Infrastructure/OperatorConsole/ConsoleBrowserTests.cs against a real service process it
// started and seeded through the REST API. Input: one JSON object in the environment variable CONSOLE_BROWSER_INPUT.
// Output: one JSON object on stdout (scenarios, pages with their serious/critical axe violations, requests that
// would have left the machine, screenshots); the xUnit test asserts on it. Exit code 0 whenever that JSON was written.
//
// Scenarios: sign in; find an organization and see its usage bars; replay a dead Stripe event and see it processed;
// bulk replay with a dry-run count; revoke a key; a read-only operator sees no action button and a forged POST is 403.
// On every page: no request to another host (each request is intercepted; any other host is recorded and aborted),
// and axe-core (axe.min.js from node_modules, evaluated in the page) finds no serious or critical violation.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const input = JSON.parse(process.env.CONSOLE_BROWSER_INPUT ?? '{}');
const require = createRequire(path.join(input.toolsDir, 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const base = new URL(input.baseUrl);
const startedAt = Date.now();
const result = { scenarios: [], pages: [], foreignRequests: [], screenshots: [], ms: 0 };
mkdirSync(input.artifactsDir, { recursive: true });

// Pages of the console-pages branch (and any page) that this build may not have yet: a 404 there is recorded as
// absent, never as passed; every page that answers is checked for axe violations and foreign requests.
const pageUrls = (ids) => [
  ['overview', '/console'],
  ['inbox', '/console/inbox'],
  ['inbox-dead-stripe', '/console/inbox?provider=stripe&status=dead'],
  ['inbox-event', `/console/inbox/${ids.deadEventId}`],
  ['organizations', `/console/organizations?q=${encodeURIComponent(ids.organizationSlug)}`],
  ['organization', `/console/organizations/${ids.organizationId}`],
  ['audit', '/console/audit'],
  ['inbox-replays', '/console/inbox/replays?provider=stripe&status=dead&count=1'],
  ['outbox', '/console/outbox'],
  ['events', '/console/events'],
  ['meetings', '/console/meetings'],
  ['billing', '/console/billing'],
  ['jobs', '/console/jobs'],
];

async function newContext(browser) {
  const context = await browser.newContext({ baseURL: input.baseUrl, viewport: { width: 1280, height: 900 } });
  // Every request of every page: this host, or it is recorded and aborted (it never leaves the machine).
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || (url.host === base.host && url.protocol === base.protocol)) return route.continue();
    result.foreignRequests.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  context.setDefaultTimeout(20000);
  context.setDefaultNavigationTimeout(30000);
  return context;
}

async function scenario(name, body) {
  const started = Date.now();
  try {
    const outcome = await body();
    if (outcome && outcome.skipped) result.scenarios.push({ name, status: 'skipped', detail: outcome.skipped, ms: Date.now() - started });
    else result.scenarios.push({ name, status: 'passed', detail: outcome ?? null, ms: Date.now() - started });
  } catch (e) {
    result.scenarios.push({ name, status: 'failed', detail: String(e && e.stack ? e.stack : e).slice(0, 2000), ms: Date.now() - started });
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function signIn(page, key) {
  await page.goto('/console');
  check(new URL(page.url()).pathname === '/console/sign-in', `an anonymous visit to /console landed on ${page.url()}, not the sign-in page`);
  await page.getByLabel('Key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/console');
  check(await page.getByRole('heading', { level: 1 }).innerText() === 'Overview', 'no Overview heading after signing in');
}

async function screenshot(page, name) {
  const file = path.join(input.artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
}

async function axe(page) {
  // Evaluated through the DevTools protocol, so the console's CSP (no script at all) stays in force for the page.
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 300)) }));
  });
}

const serious = (violations) => violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
// Moderate and minor findings: reported in result.json for reading, not failed on.
const lesser = (violations) => violations.filter((v) => !(v.impact === 'serious' || v.impact === 'critical')).map((v) => `${v.impact} ${v.id}`);

// axe's own check: on a page with an image without text and an input without a label it must report serious or
// critical violations, or a clean result on the console's pages would prove nothing.
async function axeCanary(page) {
  await page.setContent('<!DOCTYPE html><html lang="en"><head><title>canary</title></head><body><main><img src="data:,"><input type="text"></main></body></html>');
  return serious(await axe(page)).map((v) => v.id);
}

async function visitAll(page, who) {
  for (const [name, url] of pageUrls(input)) {
    const response = await page.goto(url);
    const status = response ? response.status() : 0;
    const entry = { who, name, url, status, violations: [] };
    result.pages.push(entry);
    if (status === 404) { entry.absent = true; continue; }
    const found = await axe(page);
    entry.violations = serious(found);
    entry.lesser = lesser(found);
    if (who === 'admin') await screenshot(page, name);
  }
}

const browser = await chromium.launch({ executablePath: input.chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
try {
  const admin = await newContext(browser);
  const page = await admin.newPage();

  await scenario('sign_in', async () => {
    // The sign-in page itself, anonymous: its violations and requests count like any page's.
    const response = await page.goto('/console/sign-in');
    const found = await axe(page);
    result.pages.push({ who: 'anonymous', name: 'sign-in', url: '/console/sign-in', status: response.status(), violations: serious(found), lesser: lesser(found) });
    await screenshot(page, 'sign-in');
    await page.getByLabel('Key').fill('bso_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    check(/not a valid admin or operator key/.test(await page.getByRole('alert').innerText()), 'a wrong key was not refused with its message');
    await signIn(page, input.adminOperatorKey);
    check(/browser-admin/.test(await page.locator('header').innerText()), 'the header does not name the signed-in operator');
  });

  await scenario('organization_usage_bars', async () => {
    await page.goto('/console/organizations');
    await page.getByLabel('Name, slug or id').fill(input.organizationSlug);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: input.organizationName }).click();
    await page.waitForURL((u) => u.pathname === `/console/organizations/${input.organizationId}`);
    const meter = page.locator(`meter#usage-${input.metric}`);
    check(await meter.isVisible(), `no visible usage bar for ${input.metric}`);
    const [value, max] = [await meter.getAttribute('value'), await meter.getAttribute('max')];
    check(value === String(input.used) && max === String(input.limit), `the bar shows ${value} of ${max}, not ${input.used} of ${input.limit}`);
    const box = await meter.boundingBox();
    check(box && box.width > 50 && box.height > 5, `the bar is not drawn (${JSON.stringify(box)})`);
    check((await page.getByText(`${input.used} of ${input.limit}`).count()) > 0, 'the usage figure is not written next to the bar');
    return { value, max };
  });

  await scenario('replay_dead_stripe_event', async () => {
    await page.goto('/console/inbox?provider=stripe&status=dead');
    await page.locator(`a[href="/console/inbox/${input.deadEventId}"]`).click();
    await page.waitForURL((u) => u.pathname === `/console/inbox/${input.deadEventId}`);
    check(await page.locator('dd .status').first().innerText() === 'dead', 'the event is not shown as dead before the replay');
    await page.getByRole('button', { name: 'Replay this event' }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'replayed');
    check(/Replayed: its handlers ran again/.test(await page.getByRole('status').innerText()), 'no replay notice');
    const status = await page.locator('dd .status').first().innerText();
    check(status === 'processed', `after the replay the event is ${status}, not processed`);
    await screenshot(page, 'inbox-event-replayed');
    return { status };
  });

  // Bulk replay (input.bulkReplayRoute, /console/inbox/replays): GET it with the filter (provider, status, type) in the
  // query, press the dry-run button, and the page must state the number of matches.
  await scenario('bulk_replay_dry_run', async () => {
    const route = `${input.bulkReplayRoute}?provider=stripe&status=dead&type=${encodeURIComponent(input.bulkType)}`;
    const response = await page.goto(route);
    check(response.status() === 200, `${route} answered ${response.status()}`);
    await page.getByRole('button', { name: /dry.?run|count/i }).first().click();
    await page.waitForLoadState();
    const text = await page.locator('main').innerText();
    const counted = new RegExp(`\\b${input.bulkCount}\\b[^.\\n]*\\bevents?\\b|\\bevents?\\b[^.\\n]*\\b${input.bulkCount}\\b`, 'i');
    check(counted.test(text), `the dry run does not count ${input.bulkCount} matching events: ${text.slice(0, 500)}`);
    await screenshot(page, 'bulk-replay-dry-run');
    return { counted: input.bulkCount };
  });

  await scenario('revoke_key', async () => {
    await page.goto(`/console/organizations/${input.organizationId}`);
    await page.getByRole('button', { name: `Revoke key ${input.apiKeyName} (${input.apiKeyPrefix})` }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'key_revoked');
    check(/The key was revoked/.test(await page.getByRole('status').innerText()), 'no revocation notice');
    const row = page.locator('section[aria-labelledby="keys"] tbody tr').filter({ hasText: input.apiKeyPrefix });
    check(/revoked/.test(await row.innerText()), 'the key row does not say revoked');
  });

  await visitAll(page, 'admin');
  result.axeCanary = await axeCanary(await admin.newPage());

  await scenario('read_only_sees_no_action_and_a_forged_post_is_403', async () => {
    const readOnly = await newContext(browser);
    const ro = await readOnly.newPage();
    await signIn(ro, input.readOnlyKey);
    const seen = [];
    for (const [name, url] of pageUrls(input)) {
      const response = await ro.goto(url);
      if (response.status() === 404) continue;
      check(response.status() === 200, `${url} answered ${response.status()} to a read-only operator`);
      // The only form that posts is sign-out; no button outside a GET form (filters, search) but sign-out's.
      const posting = await ro.locator('form[method="post" i]').evaluateAll((fs) => fs.map((f) => f.getAttribute('action')));
      check(posting.every((a) => a === '/console/sign-out'), `${url} offers a read-only operator a posting form: ${posting.join(', ')}`);
      const buttons = await ro.locator('button').evaluateAll((bs) => bs
        .filter((b) => !(b.form && (b.form.method.toLowerCase() === 'get' || b.form.getAttribute('action') === '/console/sign-out')))
        .map((b) => b.textContent.trim()));
      check(buttons.length === 0, `${url} shows a read-only operator action buttons: ${buttons.join(', ')}`);
      seen.push(name);
    }
    check(seen.length >= 7, `the read-only operator saw only ${seen.join(', ')}`);
    // Forged posts: a valid session and a valid antiforgery token (the sign-out form's), still refused for the role.
    await ro.goto('/console');
    const token = await ro.locator('input[name="__csrf"]').first().getAttribute('value');
    const forged = {};
    for (const action of [`/console/inbox/${input.deadEventId}/replay`, `/console/organizations/${input.organizationId}/api-keys/${input.secondApiKeyId}/revoke`]) {
      const r = await ro.request.post(action, { form: { __csrf: token }, maxRedirects: 0 });
      forged[action] = r.status();
      check(r.status() === 403, `a read-only forged POST ${action} answered ${r.status()}, not 403`);
    }
    await readOnly.close();
    return { pages: seen, forged };
  });
  await admin.close();
} finally {
  await browser.close();
}
result.ms = Date.now() - startedAt;
writeFileSync(path.join(input.artifactsDir, 'result.json'), JSON.stringify(result, null, 2));
process.stdout.write(JSON.stringify(result) + '\n');
