// Drives a running gatewayd with the official `openai` npm SDK, the way an
// application would: non-streamed and streamed chat completions (with and
// without stream_options.include_usage), the model list, and a bad key that
// must surface as the SDK's AuthenticationError.
//
// Environment: GW_BASE_URL (e.g. http://127.0.0.1:8080), GW_KEY (a virtual
// key), GW_MODEL (default gpt-4o-mini; a model routed to the mock upstream,
// whose reply is "echo: <last user message>" and whose token counts are
// whitespace-separated words).
//
// Prints one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout and exits 1 if any check failed.
import OpenAI from 'openai';
import { check, env, expect, report, words } from './harness.mjs';

const { base, key, model } = env('chat.mjs');

const opts = { baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 20000 };
const client = new OpenAI(opts);
await check('non_streamed', async () => {
  const text = 'hello from the sdk';
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: text }] })
    .withResponse();
  const content = data.choices[0].message.content;
  expect(content === 'echo: ' + text, `content ${JSON.stringify(content)}`);
  expect(data.usage.prompt_tokens === words(text), `prompt_tokens ${data.usage.prompt_tokens}`);
  expect(data.usage.completion_tokens === words('echo: ' + text),
    `completion_tokens ${data.usage.completion_tokens}`);
  const rid = response.headers.get('x-request-id');
  expect(rid && rid.startsWith('req_'), `x-request-id ${rid}`);
  return { content, usage: data.usage, request_id: rid };
});

await check('streamed', async () => {
  const text = 'streamed hello there';
  const stream = await client.chat.completions.create({
    model, stream: true, messages: [{ role: 'user', content: text }],
  });
  let content = '';
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    expect(Array.isArray(chunk.choices) && chunk.choices.length > 0,
      `a chunk without choices reached a client that did not ask for usage: ${JSON.stringify(chunk)}`);
    expect(!chunk.usage, `usage reached a client that did not ask for it: ${JSON.stringify(chunk)}`);
    const c = chunk.choices[0];
    if (c.delta && typeof c.delta.content === 'string') content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  expect(content === 'echo: ' + text, `content ${JSON.stringify(content)}`);
  expect(finish === 'stop', `finish_reason ${finish}`);
  expect(chunks >= 3, `only ${chunks} chunks`);
  return { content, chunks };
});

await check('streamed_include_usage', async () => {
  const text = 'count my tokens please';
  const stream = await client.chat.completions.create({
    model, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: text }],
  });
  let content = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0 && typeof chunk.choices[0].delta?.content === 'string')
      content += chunk.choices[0].delta.content;
    if (chunk.usage) usage = chunk.usage;
  }
  expect(content === 'echo: ' + text, `content ${JSON.stringify(content)}`);
  expect(usage !== null, 'no usage chunk');
  expect(usage.prompt_tokens === words('be brief') + words(text), `prompt_tokens ${usage.prompt_tokens}`);
  expect(usage.completion_tokens === words('echo: ' + text),
    `completion_tokens ${usage.completion_tokens}`);
  return { content, usage };
});

await check('models_list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  expect(ids.includes(model), `model list ${JSON.stringify(ids)}`);
  return { ids };
});

await check('bad_key_is_authentication_error', async () => {
  const bad = new OpenAI({ ...opts, apiKey: 'sk-gw-this-key-does-not-exist-0000000000' });
  try {
    await bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  } catch (e) {
    expect(e instanceof OpenAI.AuthenticationError, `error class ${e && e.constructor && e.constructor.name}: ${e}`);
    expect(e.status === 401, `status ${e.status}`);
    expect(e.code === 'invalid_api_key', `code ${e.code}`);
    return { status: e.status, code: e.code };
  }
  throw new Error('a bad key was accepted');
});

report();
