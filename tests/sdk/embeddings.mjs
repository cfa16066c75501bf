// Drives a running gatewayd's POST /v1/embeddings with the official `openai`
// npm SDK, the way an application would. Note that the SDK asks for
// encoding_format "base64" when the caller does not choose one, and decodes
// the answer itself as little-endian float32: the default call only works
// if the gateway passes the format on and the provider honours it.
//
// Environment: GW_BASE_URL (e.g. http://127.0.0.1:8080), GW_KEY (a virtual
// key), GW_MODEL (default gpt-4o-mini; a model routed to the mock upstream,
// whose vectors have 8 unit-length components and whose token counts are
// whitespace-separated words), GW_ECHO_MODEL (default echo).
//
// Prints one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout and exits 1 if any check failed.
import OpenAI from 'openai';
import { check, env, expect, report, words } from './harness.mjs';

const { base, key, model } = env('embeddings.mjs');
const echoModel = process.env.GW_ECHO_MODEL || 'echo';

const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 20000 });
function expectVector(v, dims) {
  expect(Array.isArray(v) && v.length === dims, `vector ${JSON.stringify(v)}`);
  expect(v.every((x) => typeof x === 'number' && Number.isFinite(x)), `numbers ${JSON.stringify(v)}`);
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  expect(Math.abs(norm - 1) < 1e-4, `unit length, got ${norm}`);
}

function close(a, b) {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-6);
}

const text = 'embed me from the sdk';

await check('default_base64', async () => {
  const { data, response } = await client.embeddings
    .create({ model, input: text })
    .withResponse();
  expect(data.object === 'list' && data.data.length === 1, `shape ${JSON.stringify(data)}`);
  expectVector(data.data[0].embedding, 8);
  expect(data.usage.prompt_tokens === words(text), `prompt_tokens ${data.usage.prompt_tokens}`);
  const rid = response.headers.get('x-request-id');
  expect(rid && rid.startsWith('req_'), `x-request-id ${rid}`);
  return { embedding: data.data[0].embedding, usage: data.usage, request_id: rid };
});

await check('float_equals_base64', async () => {
  const f = await client.embeddings.create({ model, input: text, encoding_format: 'float' });
  const b = await client.embeddings.create({ model, input: text });
  expectVector(f.data[0].embedding, 8);
  expect(close(f.data[0].embedding, b.data[0].embedding),
    `float ${JSON.stringify(f.data[0].embedding)} vs base64 ${JSON.stringify(b.data[0].embedding)}`);
  return null;
});

await check('array_input', async () => {
  const input = ['first input here', 'second', 'first input here'];
  const r = await client.embeddings.create({ model, input });
  expect(r.data.length === 3 && r.data.every((d, i) => d.index === i), `indexes ${JSON.stringify(r.data)}`);
  expect(close(r.data[0].embedding, r.data[2].embedding), 'equal inputs, equal vectors');
  expect(!close(r.data[0].embedding, r.data[1].embedding), 'different inputs, different vectors');
  const n = input.reduce((a, s) => a + words(s), 0);
  expect(r.usage.prompt_tokens === n, `prompt_tokens ${r.usage.prompt_tokens}`);
  return { usage: r.usage };
});

await check('echo_provider', async () => {
  const b = await client.embeddings.create({ model: echoModel, input: ['abc', 'def'] });
  const f = await client.embeddings.create({
    model: echoModel, input: ['abc', 'def'], encoding_format: 'float', dimensions: 12,
  });
  expect(b.data.length === 2, `shape ${JSON.stringify(b)}`);
  b.data.forEach((d) => expectVector(d.embedding, 8));
  f.data.forEach((d) => expectVector(d.embedding, 12));
  expect(b.usage.prompt_tokens === 2, `prompt_tokens ${b.usage.prompt_tokens}`);
  return { usage: b.usage };
});

await check('unknown_model_is_not_found', async () => {
  try {
    await client.embeddings.create({ model: 'no-such-embedding-model', input: 'x' });
  } catch (e) {
    expect(e instanceof OpenAI.NotFoundError, `error class ${e && e.constructor && e.constructor.name}: ${e}`);
    expect(e.status === 404 && e.code === 'model_not_found', `status ${e.status} code ${e.code}`);
    return { status: e.status, code: e.code };
  }
  throw new Error('an unknown model was accepted');
});

await check('empty_input_is_bad_request', async () => {
  try {
    await client.embeddings.create({ model, input: [] });
  } catch (e) {
    expect(e instanceof OpenAI.BadRequestError, `error class ${e && e.constructor && e.constructor.name}: ${e}`);
    expect(e.status === 400 && e.param === 'input', `status ${e.status} param ${e.param}`);
    return { status: e.status, code: e.code, param: e.param };
  }
  throw new Error('an empty input was accepted');
});

report();
