// The official `openai` npm client against `flotilla serve FLEET.toml` (started by fleet_e2e_test.cc):
// named and "auto" routing, escalation to the upstream, classify, fallback and 502 when the upstream is
// down, bad requests. Env: FLOTILLA_URL, FLEET_PHASE ("up", "fallback" or "error").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: `${process.env.FLOTILLA_URL}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
const phase = process.env.FLEET_PHASE;
const story = 'tell me a story about the little red boat';
const support = 'my card was charged twice for the ferry ticket';

async function chat(params) {
  const { data, response } = await client.chat.completions.create(params).withResponse();
  assert.equal(response.headers.get('x-flotilla-route'), data.flotilla.route);
  return data;
}

async function streamText(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '', route = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.flotilla) route = chunk.flotilla;
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length) text += chunk.choices[0].delta.content ?? '';
  }
  return { text, route, usage };
}

if (phase === 'up') {
  test('models lists specialists, the router and auto', async () => {
    const kinds = {};
    for await (const m of client.models.list()) kinds[m.id] = m.flotilla.kind;
    assert.deepEqual(kinds, { teller: 'generative', stories: 'generative', intent: 'classifier', router: 'router', auto: 'auto' });
  });

  test('a named generative specialist answers locally, whole and streamed alike', async () => {
    const params = { model: 'stories', messages: [{ role: 'user', content: 'the boat' }], max_tokens: 10, seed: 4 };
    const r = await chat(params);
    assert.equal(r.model, 'stories');
    assert.equal(r.flotilla.route, 'local');
    assert.equal(r.flotilla.specialist, 'stories');
    assert.equal(r.flotilla.confidence, null);  // nothing calibrated to compare for a named generative model
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 10);
    const s = await streamText(params);
    assert.equal(s.text, r.choices[0].message.content);
    assert.equal(s.route.route, 'local');
  });

  test('auto routes a support ticket to the classifier specialist', async () => {
    const r = await chat({ model: 'auto', messages: [{ role: 'user', content: support }] });
    assert.equal(r.flotilla.route, 'local');
    assert.equal(r.flotilla.specialist, 'intent');
    assert.equal(r.flotilla.router_label, 'support');
    assert.equal(r.choices[0].message.content, 'support');  // a classifier answers with its label
    assert.ok(r.flotilla.confidence > 0.5 && r.flotilla.confidence <= 1);
  });

  test('auto escalates a story to the upstream when the router is under the threshold', async () => {
    const params = { model: 'auto', messages: [{ role: 'user', content: story }], max_tokens: 12, seed: 9 };
    const r = await chat(params);
    assert.equal(r.flotilla.route, 'escalated');
    assert.equal(r.flotilla.specialist, 'teller');
    assert.equal(r.flotilla.answered_by, 'big');
    assert.equal(r.model, 'big');
    assert.equal(r.flotilla.threshold, 1);  // 1: always escalate
    assert.ok(r.flotilla.confidence > 0 && r.flotilla.confidence <= 1);
    assert.match(r.flotilla.reason, /escalated to big/);
    assert.ok(r.usage.prompt_tokens > 0);
    const s = await streamText(params);  // the upstream's answer, as a stream
    assert.equal(s.text, r.choices[0].message.content);
    assert.equal(s.route.route, 'escalated');
    assert.equal(s.usage.completion_tokens, r.usage.completion_tokens);
  });

  test('classify: named classifier, auto (the router), batches', async () => {
    const one = await client.post('/classify', { body: { model: 'intent', input: support } });
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].label, 'support');
    assert.equal(typeof one.data[0].abstained, 'boolean');
    const many = await client.post('/classify', { body: { input: [story, support, 'the'] } });
    assert.equal(many.model, 'router');
    assert.deepEqual(many.data.slice(0, 2).map((d) => d.label), ['story', 'support']);
    for (const d of many.data) assert.ok(d.confidence >= 0 && d.confidence <= 1);
  });

  test('bad requests are OpenAI errors', async () => {
    const is = (cls, status) => (e) => e instanceof cls && e.status === status;
    await assert.rejects(client.post('/classify', { body: { model: 'intent' } }), is(OpenAI.BadRequestError, 400));
    await assert.rejects(client.post('/classify', { body: { model: 'stories', input: 'x' } }), is(OpenAI.BadRequestError, 400));
    await assert.rejects(client.post('/classify', { body: { model: '../router.gguf', input: 'x' } }), is(OpenAI.NotFoundError, 404));
    await assert.rejects(client.chat.completions.create({ model: 'ghost', messages: [{ role: 'user', content: 'x' }] }),
      is(OpenAI.NotFoundError, 404));
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: [] }), is(OpenAI.BadRequestError, 400));
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: story }], temperature: 9 }),
      is(OpenAI.BadRequestError, 400));
  });
}

if (phase === 'fallback') {
  test('upstream down: the specialist answers, marked as a fallback', async () => {
    const r = await chat({ model: 'auto', messages: [{ role: 'user', content: story }], max_tokens: 8, seed: 2 });
    assert.equal(r.flotilla.route, 'fallback');
    assert.equal(r.flotilla.answered_by, 'teller');
    assert.match(r.flotilla.reason, /upstream failed/);
    const s = await streamText({ model: 'auto', messages: [{ role: 'user', content: story }], max_tokens: 8, seed: 2 });
    assert.equal(s.route.route, 'fallback');
    assert.equal(s.text, r.choices[0].message.content);
  });
}

if (phase === 'error') {
  test('upstream down with on_failure = "error": a 502 in the OpenAI error shape', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: story }] }),
      (e) => e instanceof OpenAI.InternalServerError && e.status === 502 && /upstream/.test(e.message));
    // Requests that do not escalate still work.
    const r = await chat({ model: 'stories', messages: [{ role: 'user', content: 'the boat' }], max_tokens: 4 });
    assert.equal(r.flotilla.route, 'local');
  });
}
