// The official `openai` npm client against a running `flotilla serve` (started by run.sh):
// chat, streaming, completions, models and errors. Env: FLOTILLA_URL, FLOTILLA_MODEL, FLOTILLA_KEY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = `${process.env.FLOTILLA_URL}/v1`;
const model = process.env.FLOTILLA_MODEL;
const client = new OpenAI({ baseURL, apiKey: process.env.FLOTILLA_KEY, maxRetries: 0, timeout: 60000 });

test('models lists the served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [model]);
});

test('chat completion', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'the boat' }], max_tokens: 8, seed: 1, temperature: 0.7, top_p: 0.9,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens <= 8);
});

test('streaming chat assembles the same text as the whole answer', async () => {
  const params = { model, messages: [{ role: 'user', content: 'the harbor' }], max_tokens: 12, seed: 5 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('legacy completions with stop', async () => {
  const r = await client.completions.create({ model, prompt: 'the boat and', max_tokens: 10, temperature: 0, stop: ['\n'] });
  assert.equal(r.object, 'text_completion');
  assert.ok(!r.choices[0].text.includes('\n'));
});

test('unknown model is a 404 NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.error?.code === 'model_not_found');
});

test('invalid parameters are a 400 BadRequestError naming the parameter', async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature');
  await assert.rejects(
    client.chat.completions.create({ model, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
});

test('a wrong API key is a 401 AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('embeddings: unit vectors, one per input, base64 (the client default) and float agree', async () => {
  const r = await client.embeddings.create({ model, input: ['the boat', 'the sea and the harbor'] });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 2);
  assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
  assert.ok(r.usage.prompt_tokens > 0);
  const f = await client.embeddings.create({ model, input: ['the boat', 'the sea and the harbor'], encoding_format: 'float' });
  for (let i = 0; i < 2; ++i) {
    const e = r.data[i].embedding;
    assert.ok(e.length > 0);
    const norm = Math.sqrt(e.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
    assert.equal(f.data[i].embedding.length, e.length);
    for (let k = 0; k < e.length; ++k) assert.ok(Math.abs(f.data[i].embedding[k] - e[k]) < 1e-6);
  }
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
});
