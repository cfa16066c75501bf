// Drives a running gatewayd's /v1/messages with the official Anthropic npm
// SDK, the way an application would, in two generations of it: the current
// one (`@anthropic-ai/sdk`, 1.x: key as `Authorization: Bearer`, a recent
// `anthropic-version`) and the last 0.x (`anthropic-sdk-v0`, an npm alias:
// key as `x-api-key`, `anthropic-version: 2023-06-01`). For each: a
// non-streamed messages.create, a streamed messages.stream (text deltas and
// the final message), a raw `stream: true` iteration (the event sequence),
// countTokens, and a bad key that must surface as the SDK's
// AuthenticationError.
//
// Environment: GW_BASE_URL (e.g. http://127.0.0.1:8080), GW_KEY (a virtual
// key), GW_MODEL (default gpt-4o-mini; a model routed to the mock upstream,
// whose reply is "echo: <last user message>" and whose token counts are
// whitespace-separated words).
//
// Prints one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout and exits 1 if any check failed.
import AnthropicV1 from '@anthropic-ai/sdk';
import AnthropicV0 from 'anthropic-sdk-v0';
import { check, env, expect, report, words } from './harness.mjs';

const { base, key, model } = env('messages.mjs');

function textOf(message) {
  return message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

async function run(tag, Anthropic) {
  // the SDK appends /v1/messages to its base URL
  const opts = { baseURL: base, apiKey: key, maxRetries: 0, timeout: 20000 };
  const client = new Anthropic(opts);
  const system = 'answer briefly';

  await check(tag + '.non_streamed', async () => {
    const text = 'hello from the ' + tag + ' sdk';
    const { data, response } = await client.messages
      .create({ model, max_tokens: 64, system, messages: [{ role: 'user', content: text }] })
      .withResponse();
    expect(data.type === 'message' && data.role === 'assistant', `shape ${JSON.stringify(data)}`);
    expect(data.id.startsWith('msg_'), `id ${data.id}`);
    expect(data.model === model, `model ${data.model}`);
    expect(textOf(data) === 'echo: ' + text, `content ${JSON.stringify(data.content)}`);
    expect(data.stop_reason === 'end_turn', `stop_reason ${data.stop_reason}`);
    expect(data.usage.input_tokens === words(system) + words(text),
      `input_tokens ${data.usage.input_tokens}`);
    expect(data.usage.output_tokens === words('echo: ' + text),
      `output_tokens ${data.usage.output_tokens}`);
    const rid = response.headers.get('x-request-id');
    expect(rid && rid.startsWith('req_'), `x-request-id ${rid}`);
    return { content: data.content, usage: data.usage, request_id: rid };
  });

  await check(tag + '.streamed', async () => {
    const text = 'streamed hello from ' + tag;
    const stream = client.messages.stream({
      model, max_tokens: 64, system, messages: [{ role: 'user', content: text }],
    });
    let deltas = '';
    let n = 0;
    stream.on('text', (d) => {
      deltas += d;
      n++;
    });
    const final = await stream.finalMessage();
    expect(deltas === 'echo: ' + text, `deltas ${JSON.stringify(deltas)}`);
    expect(n === words('echo: ' + text), `${n} text deltas`);
    expect(textOf(final) === 'echo: ' + text, `final ${JSON.stringify(final.content)}`);
    expect(final.stop_reason === 'end_turn', `stop_reason ${final.stop_reason}`);
    expect(final.usage.output_tokens === words('echo: ' + text),
      `output_tokens ${final.usage.output_tokens}`);
    expect(final.usage.input_tokens === words(system) + words(text),
      `input_tokens ${final.usage.input_tokens}`);
    return { text: deltas, deltas: n, usage: final.usage };
  });

  await check(tag + '.raw_stream_events', async () => {
    const text = 'raw events please';
    const stream = await client.messages.create({
      model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: text }],
    });
    const types = [];
    for await (const ev of stream) types.push(ev.type);
    const n = words('echo: ' + text);
    const want = ['message_start', 'content_block_start']
      .concat(Array(n).fill('content_block_delta'))
      .concat(['content_block_stop', 'message_delta', 'message_stop']);
    // ping is consumed by the SDK (older versions yield it): compare without it
    const got = types.filter((t) => t !== 'ping');
    expect(JSON.stringify(got) === JSON.stringify(want), `events ${JSON.stringify(types)}`);
    return { events: types };
  });

  await check(tag + '.count_tokens', async () => {
    const r = await client.messages.countTokens({
      model, system, messages: [{ role: 'user', content: 'how many tokens is this' }],
    });
    expect(Number.isInteger(r.input_tokens) && r.input_tokens > 0, `input_tokens ${r.input_tokens}`);
    return r;
  });

  await check(tag + '.bad_key_is_authentication_error', async () => {
    const bad = new Anthropic({ ...opts, apiKey: 'sk-gw-this-key-does-not-exist-0000000000' });
    try {
      await bad.messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    } catch (e) {
      expect(e instanceof Anthropic.AuthenticationError,
        `error class ${e && e.constructor && e.constructor.name}: ${e}`);
      expect(e.status === 401, `status ${e.status}`);
      expect(e.error && e.error.type === 'error' && e.error.error.type === 'authentication_error',
        `body ${JSON.stringify(e.error)}`);
      return { status: e.status, error: e.error };
    }
    throw new Error('a bad key was accepted');
  });
}

await run('v1', AnthropicV1);
await run('v0', AnthropicV0);

report();
