// Drives a running gatewayd's response cache with the official SDKs: an
// answer made through the OpenAI SDK (non-streamed, a cache miss) is
// replayed from the cache to the OpenAI SDK as a stream, and to both
// generations of the Anthropic SDK (streamed and not), which must parse it
// as they parse a live answer; the same for an answer with a tool call.
//
// Environment: GW_BASE_URL, GW_KEY, GW_MODEL (a model routed to the mock
// upstream, whose reply is "echo: <last user message>", token counts
// whitespace-separated words, and whose [[mock:tool=NAME]] directive makes
// the answer call NAME with {"text": <echo>}); GW_MARK, a word that makes
// this run's questions new to the cache.
//
// Prints one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout and exits 1 if any check failed.
import OpenAI from 'openai';
import AnthropicV1 from '@anthropic-ai/sdk';
import AnthropicV0 from 'anthropic-sdk-v0';
import { check, env, expect, report, words } from './harness.mjs';

const { base, key, model } = env('cache.mjs');
const mark = process.env.GW_MARK || 'nomark';
const system = 'answer briefly';
const text = 'what is cached ' + mark;
const toolText = 'call the tool ' + mark + ' [[mock:tool=lookup]]';
const echo = 'echo: ' + text;
// the mock cuts its directives out of the echo
const toolEcho = 'echo: call the tool ' + mark;

const openai = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 20000 });
const oaiMessages = (t) => [{ role: 'system', content: system }, { role: 'user', content: t }];

await check('openai.miss', async () => {
  const { data, response } = await openai.chat.completions
    .create({ model, max_tokens: 64, messages: oaiMessages(text) })
    .withResponse();
  expect(response.headers.get('x-gw-cache') === 'miss', `x-gw-cache ${response.headers.get('x-gw-cache')}`);
  expect(data.choices[0].message.content === echo, `content ${data.choices[0].message.content}`);
  return { usage: data.usage };
});

await check('openai.streamed_hit', async () => {
  const { data: stream, response } = await openai.chat.completions
    .create({
      model, max_tokens: 64, messages: oaiMessages(text), stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  expect(response.headers.get('x-gw-cache') === 'hit-exact',
    `x-gw-cache ${response.headers.get('x-gw-cache')}`);
  let content = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (typeof c.delta.content === 'string') content += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  expect(content === echo, `content ${JSON.stringify(content)}`);
  expect(finish === 'stop', `finish ${finish}`);
  expect(usage && usage.prompt_tokens === words(system) + words(text) &&
    usage.completion_tokens === words(echo), `usage ${JSON.stringify(usage)}`);
  return { content, usage, age: response.headers.get('x-gw-cache-age') };
});

await check('openai.tool_miss_then_streamed_hit', async () => {
  const first = await openai.chat.completions
    .create({ model, max_tokens: 64, messages: oaiMessages(toolText) })
    .withResponse();
  expect(first.response.headers.get('x-gw-cache') === 'miss', 'first call not a miss');
  const stream = openai.chat.completions.stream({
    model, max_tokens: 64, messages: oaiMessages(toolText),
  });
  const final = await stream.finalChatCompletion();
  const msg = final.choices[0].message;
  const call = msg.tool_calls && msg.tool_calls[0];
  expect(final.choices[0].finish_reason === 'tool_calls', `finish ${final.choices[0].finish_reason}`);
  expect(call && call.function.name === 'lookup', `tool_calls ${JSON.stringify(msg.tool_calls)}`);
  expect(JSON.parse(call.function.arguments).text === toolEcho.slice('echo: '.length) ||
    JSON.parse(call.function.arguments).text === toolEcho, `arguments ${call.function.arguments}`);
  expect(msg.content === 'Calling lookup.', `content ${JSON.stringify(msg.content)}`);
  return { tool_calls: msg.tool_calls };
});

async function anthropicChecks(tag, Anthropic) {
  const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 20000 });
  const params = (t) => ({ model, max_tokens: 64, system, messages: [{ role: 'user', content: t }] });

  await check(tag + '.non_streamed_hit', async () => {
    const { data, response } = await client.messages.create(params(text)).withResponse();
    expect(response.headers.get('x-gw-cache') === 'hit-exact',
      `x-gw-cache ${response.headers.get('x-gw-cache')}`);
    expect(data.type === 'message' && data.content[0].text === echo,
      `message ${JSON.stringify(data)}`);
    expect(data.stop_reason === 'end_turn', `stop_reason ${data.stop_reason}`);
    expect(data.usage.input_tokens === words(system) + words(text) &&
      data.usage.output_tokens === words(echo), `usage ${JSON.stringify(data.usage)}`);
    return { usage: data.usage };
  });

  await check(tag + '.streamed_hit', async () => {
    const stream = client.messages.stream(params(text));
    let deltas = '';
    stream.on('text', (d) => { deltas += d; });
    const final = await stream.finalMessage();
    const cache = stream.response && stream.response.headers.get('x-gw-cache');
    expect(cache === 'hit-exact', `x-gw-cache ${cache}`);
    expect(deltas === echo, `deltas ${JSON.stringify(deltas)}`);
    expect(final.content[0].text === echo, `final ${JSON.stringify(final.content)}`);
    expect(final.stop_reason === 'end_turn', `stop_reason ${final.stop_reason}`);
    expect(final.usage.output_tokens === words(echo), `usage ${JSON.stringify(final.usage)}`);
    return { text: deltas, usage: final.usage };
  });

  await check(tag + '.tool_streamed_hit', async () => {
    const stream = client.messages.stream(params(toolText));
    const final = await stream.finalMessage();
    const cache = stream.response && stream.response.headers.get('x-gw-cache');
    expect(cache === 'hit-exact', `x-gw-cache ${cache}`);
    const tool = final.content.find((b) => b.type === 'tool_use');
    expect(final.stop_reason === 'tool_use', `stop_reason ${final.stop_reason}`);
    expect(tool && tool.name === 'lookup' && typeof tool.input.text === 'string',
      `content ${JSON.stringify(final.content)}`);
    return { content: final.content };
  });
}

await anthropicChecks('anthropic_v1', AnthropicV1);
await anthropicChecks('anthropic_v0', AnthropicV0);

report();
