// Drives a running gatewayd's /v1/chat/completions with the official
// `openai` npm SDK when the model is served by an Anthropic-format upstream
// (the gateway translates both ways): a non-streamed answer, a streamed one
// with usage, and a tool call, whole and streamed (its arguments arriving in
// fragments that the SDK's stream helper must reassemble).
//
// Environment: GW_BASE_URL, GW_KEY, GW_MODEL (a model routed to the mock's
// Anthropic Messages endpoint, whose reply is "echo: <last user message>",
// with [[mock:tool=NAME]] a call to NAME with arguments {"text": <echo>},
// and whose token counts are whitespace-separated words).
//
// Prints one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout and exits 1 if any check failed.
import OpenAI from 'openai';
import { check, env, expect, report, words } from './harness.mjs';

const { base, key, model } = env('openai_vs_anthropic.mjs');

const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 20000 });

const tools = [{
  type: 'function',
  function: {
    name: 'lookup',
    description: 'Look a text up',
    parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
}];

await check('non_streamed', async () => {
  const text = 'hello anthropic upstream';
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: text }] })
    .withResponse();
  expect(data.object === 'chat.completion', `object ${data.object}`);
  const c = data.choices[0];
  expect(c.message.content === 'echo: ' + text, `content ${JSON.stringify(c.message.content)}`);
  expect(c.finish_reason === 'stop', `finish_reason ${c.finish_reason}`);
  expect(data.usage.prompt_tokens === words('be brief') + words(text),
    `prompt_tokens ${data.usage.prompt_tokens}`);
  expect(data.usage.completion_tokens === words('echo: ' + text),
    `completion_tokens ${data.usage.completion_tokens}`);
  return { content: c.message.content, usage: data.usage,
    request_id: response.headers.get('x-request-id') };
});

await check('streamed_with_usage', async () => {
  const text = 'stream from anthropic please';
  const stream = await client.chat.completions.create({
    model, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: text }],
  });
  let content = '';
  let usage = null;
  let finish = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    expect(chunk.object === 'chat.completion.chunk', `object ${chunk.object}`);
    if (chunk.choices.length > 0) {
      const ch = chunk.choices[0];
      if (typeof ch.delta?.content === 'string') content += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  expect(content === 'echo: ' + text, `content ${JSON.stringify(content)}`);
  expect(finish === 'stop', `finish_reason ${finish}`);
  expect(usage && usage.prompt_tokens === words(text), `usage ${JSON.stringify(usage)}`);
  expect(usage.completion_tokens === words('echo: ' + text), `usage ${JSON.stringify(usage)}`);
  expect(chunks >= 4, `only ${chunks} chunks`);
  return { content, usage, chunks };
});

await check('tool_call', async () => {
  const text = 'find this [[mock:tool=lookup]]';
  const data = await client.chat.completions.create({
    model, tools, tool_choice: 'required', messages: [{ role: 'user', content: text }],
  });
  const c = data.choices[0];
  expect(c.finish_reason === 'tool_calls', `finish_reason ${c.finish_reason}`);
  const calls = c.message.tool_calls || [];
  expect(calls.length === 1, `tool_calls ${JSON.stringify(calls)}`);
  expect(calls[0].type === 'function' && calls[0].function.name === 'lookup',
    `call ${JSON.stringify(calls[0])}`);
  expect(typeof calls[0].id === 'string' && calls[0].id.length > 0, `id ${calls[0].id}`);
  const args = JSON.parse(calls[0].function.arguments);
  expect(args.text === 'echo: find this', `arguments ${calls[0].function.arguments}`);

  // the answer goes back with the tool's result, as an application would
  const follow = await client.chat.completions.create({
    model, tools,
    messages: [
      { role: 'user', content: text },
      c.message,
      { role: 'tool', tool_call_id: calls[0].id, content: 'found it' },
      { role: 'user', content: 'thanks' },
    ],
  });
  expect(follow.choices[0].message.content === 'echo: thanks',
    `follow-up ${JSON.stringify(follow.choices[0].message)}`);
  return { call: calls[0], follow: follow.choices[0].message.content };
});

await check('streamed_tool_call', async () => {
  const text = 'stream a call [[mock:tool=lookup]]';
  const runner = client.chat.completions.stream({
    model, tools, messages: [{ role: 'user', content: text }],
  });
  let argDeltas = 0;
  for await (const chunk of runner) {
    for (const tc of chunk.choices[0]?.delta?.tool_calls || [])
      if (tc.function && typeof tc.function.arguments === 'string' && tc.function.arguments.length)
        argDeltas++;
  }
  const done = await runner.finalChatCompletion();
  const c = done.choices[0];
  expect(c.finish_reason === 'tool_calls', `finish_reason ${c.finish_reason}`);
  const calls = c.message.tool_calls || [];
  expect(calls.length === 1 && calls[0].function.name === 'lookup', `calls ${JSON.stringify(calls)}`);
  const args = JSON.parse(calls[0].function.arguments);
  expect(args.text === 'echo: stream a call', `arguments ${calls[0].function.arguments}`);
  expect(argDeltas >= 2, `arguments arrived in ${argDeltas} fragment(s)`);
  return { call: calls[0], fragments: argDeltas };
});

report();
