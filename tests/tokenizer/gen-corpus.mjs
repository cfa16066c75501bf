// Generates the tokenizer exactness corpus: tests/tokenizer/corpus.jsonl (one
// {"text", "cl100k", "o200k"} object per line: a string and its token ids in
// both encodings) and tests/tokenizer/chat.json (chat requests and their
// prompt-token counts), with js-tiktoken as the reference. Deterministic: the
// random strings come from a seeded generator, so re-running it gives the
// same files unless js-tiktoken changes.
//
//   cd tests/tokenizer && npm ci && node gen-corpus.mjs
//
// The outputs are committed: `make test` (tests/unit/test_tokenizer.c) needs
// no node. Ids are computed as tiktoken's encode_ordinary does: special-token
// text such as "<|endoftext|>" is ordinary text.
import { getEncoding } from 'js-tiktoken';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const enc = { cl100k: getEncoding('cl100k_base'), o200k: getEncoding('o200k_base') };
// encode_ordinary: nothing allowed, nothing disallowed
const ids = (e, text) => enc[e].encode(text, [], []);

// ---- seeded PRNG (mulberry32) ----
let seed = 0x6a7e11d;
function rnd() {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (a) => a[Math.floor(rnd() * a.length)];
const rep = (n, f) => Array.from({ length: n }, f).join('');

// ---- hand-written cases ----
const fixed = [
    '',
    ' ',
    'a',
    'A',
    '\n',
    'Hello, world!',
    'hello world',
    'Hello World',
    'HELLO WORLD',
    'tiktoken is great!',
    'The quick brown fox jumps over the lazy dog.',
    // contractions in every case, where the regexes treat them specially
    "I'll be there. You'LL see. HE'LL come. we'Ll go. they'lL stay.",
    "it's IT'S It'S it'S; don't DON'T Don'T; I'm I'M; I'd I'D; we've WE'VE We'Ve; you're YOU'RE You'Re",
    "'s 's's ''s '' ' 'S 'll 'LL 're 've 'd 'm 't",
    "rock'n'roll o'clock y'all ma'am 'tis 'twas",
    "He said 'hello' and 'goodbye'.",
    "the dog's bone, the dogs' bones, James's car, James' car",
    "it\u2019s curly (U+2019), not ASCII",
    "it'\u017f long s; K\u212a kelvin sign",
    "l'homme d'\u00e9tat aujourd'hui qu'il",
    "DON'T SHOUT'S'S",
    // special tokens are ordinary text
    '<|endoftext|>',
    'before <|endoftext|> after',
    '<|fim_prefix|>def f():<|fim_suffix|>return 1<|fim_middle|>',
    '<|endofprompt|><|im_start|>user\nhi<|im_end|>',
    '<|endoftext',
    // numbers
    '0',
    '12',
    '123',
    '1234',
    '12345678901234567890',
    '3.14159265358979323846',
    '1,000,000.00',
    '-42 +17 1e10 0x1F 0b1010 1_000_000',
    '2024-01-15T10:30:00Z',
    '\uff11\uff12\uff13\uff14 fullwidth digits',
    '\u0663\u0664\u0665\u0666 arabic-indic digits',
    '\u0967\u0968\u0969 devanagari digits',
    '\u2162\u216b roman numerals, \u00b2\u00b3\u00bd superscripts and fractions',
    '\u2460\u2461\u2462 circled digits',
    // whitespace
    '  ',
    '   ',
    '\t',
    '\t\t\t',
    '\r\n',
    '\n\n\n',
    'a\n\nb',
    'a  \n  b',
    'line1\r\nline2\r\n',
    '   leading and trailing   ',
    'a\u00a0b non-breaking space',
    'a\u3000b ideographic space',
    'a\u2028b line separator, a\u2029b paragraph separator',
    'a\u0085b next line (NEL)',
    '\ufeffBOM at start',
    'a\u200bzero width space',
    'a\u200d\u200c joiners',
    ' \t \t \n \t ',
    'x \n',
    'x  ',
    '\n \n \n',
    '    indented\n        more\n',
    // punctuation
    '!!!???...',
    '...\n',
    '---\n===\n***',
    'a/b/c/d',
    'path/to/file.txt',
    '/usr/local/bin/',
    '//comment\n/* block */',
    '$$$ %%% ^^^ &&& |||',
    '\u00ab\u00bb \u201cquotes\u201d \u2018single\u2019 \u300cjapanese\u300d',
    '(a) [b] {c} <d>',
    '@user #hashtag $var %mod',
    ':-) ;-) :D <3 \u00af\\_(\u30c4)_/\u00af',
    // code
    '#include <stdio.h>\nint main(void) {\n    printf("hello\\n");\n    return 0;\n}\n',
    'def fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
    'const f = async (x) => { await fetch(`/api/${x}`); return x ?? null; };',
    'fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!("{:?}", v);\n}',
    'func main() {\n\tfmt.Println("hi")\n\tif err != nil {\n\t\treturn\n\t}\n}',
    'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%son\' ORDER BY id DESC;',
    '<!DOCTYPE html>\n<html><body><div class="x">Hi &amp; bye</div></body></html>',
    '.btn:hover { color: #ff00ff; margin: 0 auto !important; }',
    '#!/bin/sh\nset -eu\nfor f in *.c; do echo "$f"; done 2>&1 | tee log\n',
    'key: value\nlist:\n  - one\n  - two\nnested:\n  a: 1\n',
    '{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"temperature":0.7}',
    '{\n  "a": [1, 2, 3],\n  "b": {"c": null, "d": true}\n}',
    'public static void main(String[] args) { System.out.println(args.length); }',
    'x = [i**2 for i in range(10) if i % 2 == 0]  # squares',
    'if (a && b || !c) { x += 1; } else { x -= 1; }',
    '\tmov eax, 1\n\tint 0x80\n',
    // URLs and addresses
    'https://example.com/path/to/page?query=1&b=two#frag',
    'http://localhost:8080/v1/chat/completions',
    'mailto:someone@example.org',
    'ftp://files.example.net/pub/file-1.2.3.tar.gz',
    'user@example.com, first.last+tag@sub.domain.co.uk',
    '192.168.0.1 ::1 fe80::1ff:fe23:4567:890a',
    // scripts
    '\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002',
    '\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01\u304a\u5143\u6c17\u3067\u3059\u304b\uff1f',
    '\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57',
    '\uc548\ub155\ud558\uc138\uc694, \uc138\uc0c1! \uc624\ub298 \uae30\ubd84\uc774 \uc5b4\ub54c\uc694?',
    '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?',
    '\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5',
    '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f',
    '\u0634\u064e\u0643\u0652\u0631\u064b\u0627 with harakat',
    '\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd! \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da?',
    '\u05d1\u05bc\u05b0\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u05d9\u05ea with niqqud',
    '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e! \u0906\u092a \u0915\u0948\u0938\u0947 \u0939\u0948\u0902?',
    '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01',
    'Vi\u1ec7t Nam xin ch\u00e0o, ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u',
    'Vie\u0323\u0302t decomposed combining marks: e\u0301 a\u0300 o\u0308',
    '\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd \u0b89\u0bb2\u0b95\u0bae\u0bcd',
    '\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 Georgian',
    '\u0540\u0561\u0575\u0565\u0580\u0565\u0576 Armenian',
    'Stra\u00dfe \u00fcber \u00c4rger \u00d6l \u00df\u1e9e',
    'na\u00efve caf\u00e9 r\u00e9sum\u00e9 pi\u00f1ata fa\u00e7ade',
    '\u01c5\u01c8\u01cb titlecase digraphs \u01c4\u01c6',
    '\u02b0\u02b2\u02e0 modifier letters \u3005\u309d',
    // emoji
    '\ud83d\udc4d',
    '\ud83d\ude00\ud83d\ude03\ud83d\ude04\ud83d\ude01',
    '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 family (ZWJ)',
    '\ud83c\udff3\ufe0f\u200d\ud83c\udf08 rainbow flag',
    '\ud83c\uddeb\ud83c\uddf7\ud83c\uddef\ud83c\uddf5\ud83c\uddfa\ud83c\uddf8 flags',
    '\ud83d\udc4b\ud83c\udffd\ud83d\udc4b\ud83c\udfff skin tones',
    '\u2764\ufe0f \u2600\ufe0f \u2714\ufe0f variation selectors',
    '1\ufe0f\u20e3 #\ufe0f\u20e3 keycaps',
    '\ud83e\uddd1\u200d\ud83d\udcbb\ud83d\udc69\u200d\ud83d\ude80 professions',
    'Great job! \ud83c\udf89\ud83c\udf89\ud83c\udf89 See you \ud83d\udc4b',
    '\ud83c\udff4\udb40\udc67\udb40\udc62\udb40\udc73\udb40\udc63\udb40\udc74\udb40\udc7f Scotland tag sequence',
    // other planes
    '\ud835\udc00\ud835\udc01\ud835\udc02 mathematical bold',
    '\ud840\udc00\ud840\udc01 CJK extension B',
    '\ud800\udf00\ud800\udf01 old italic',
];

// ---- random generators ----
const words = (
    'the of and to in is you that it he was for on are as with his they at be this have from or one had by ' +
    'word but not what all were we when your can said there use an each which she do how their if will up ' +
    'other about out many then them these so some her would make like him into time has look two more write ' +
    'go see number no way could people my than first water been call who oil its now find long down day did ' +
    'get come made may part gateway token tokenizer encoding request response latency budget limit server ' +
    'international internationalization antidisestablishmentarianism floccinaucinihilipilification ' +
    'JavaScript TypeScript PostgreSQL OpenAI iPhone McDonald XMLHttpRequest camelCase snake_case kebab-case'
).split(' ');
const contractionTails = ['s', 'S', 't', 'T', 'll', 'LL', 'Ll', 'lL', 're', 'RE', 'Re', 've', 'VE', 'd', 'D', 'm', 'M', 'x', ''];
const ranges = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17f], [0x180, 0x24f],
    [0x250, 0x2af], [0x2b0, 0x2ff], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x530, 0x58f],
    [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0x980, 0x9ff], [0xb80, 0xbff], [0xe00, 0xe7f],
    [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x1e00, 0x1eff], [0x1f00, 0x1fff], [0x2000, 0x206f],
    [0x2070, 0x209f], [0x20a0, 0x20bf], [0x2100, 0x214f], [0x2150, 0x218f], [0x2190, 0x21ff],
    [0x2200, 0x22ff], [0x2500, 0x257f], [0x2600, 0x26ff], [0x2700, 0x27bf], [0x3000, 0x303f],
    [0x3040, 0x309f], [0x30a0, 0x30ff], [0x4e00, 0x9fa5], [0x4e00, 0x9fa5], [0xac00, 0xd7a3],
    [0xfb00, 0xfb4f], [0xfe30, 0xfe4f], [0xff00, 0xffef], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f],
    [0x1f680, 0x1f6ff], [0x1f900, 0x1f9ff], [0x1d400, 0x1d7ff], [0x20000, 0x2a6d6],
];
const assigned = (ch) => !/\p{Cn}|\p{Cs}/u.test(ch);
function randChar() {
    for (;;) {
        const [lo, hi] = pick(ranges);
        const ch = String.fromCodePoint(int(lo, hi));
        if (assigned(ch))
            return ch;
    }
}
const casing = (w) => {
    switch (int(0, 5)) {
    case 0: return w.toUpperCase();
    case 1: return w[0].toUpperCase() + w.slice(1);
    case 2: return [...w].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join('');
    default: return w;
    }
};
const seps = [' ', ' ', ' ', ' ', ', ', '. ', '\n', '  ', '\t', '! ', '? ', '; ', ': ', ' - ', '\n\n', '/', '...', ' (', ') '];
const soupChars = " \t\n\r.,;:!?'\"-_/\\()[]{}<>=+*&^%$#@~`|0123456789aAzZ\u00e9\u4e00\ud83d\ude00\u00a0";

const generators = [
    // sentences of words, mixed casing and punctuation, some contractions
    () => rep(int(1, 40), () => {
        let w = casing(pick(words));
        if (rnd() < 0.15)
            w += "'" + pick(contractionTails);
        return w + pick(seps);
    }),
    // random code points from many scripts, mixed with spaces
    () => rep(int(1, 60), () => (rnd() < 0.15 ? pick([' ', ' ', '\n', '  ', '\t']) : randChar())),
    // punctuation / whitespace / digit soup
    () => rep(int(1, 80), () => [...soupChars][int(0, [...soupChars].length - 1)]),
    // numbers
    () => rep(int(1, 8), () => String(int(0, 1e9)) + pick(['', ' ', '.', ',', '-', '/', ':', 'e', '\n'])),
    // JSON
    () => {
        const o = {};
        for (let i = 0; i < int(1, 6); i++)
            o[pick(words) + (rnd() < 0.3 ? '_' + pick(words) : '')] = pick([
                int(-1e6, 1e6), rnd() * 100, pick(words), null, true, [1, 2, pick(words)],
                { x: pick(words), y: [randChar(), randChar()] },
            ]);
        return JSON.stringify(o, null, pick([0, 2, 4, '\t']));
    },
    // code-like lines
    () => rep(int(1, 8), () => pick(['    ', '\t', '', '  ']) + pick(words) +
        pick(['(', ' = ', '.', '->', '::', '[']) + pick(words) + pick([');', '];', ' {', '}', ',', ' // ' + pick(words), '']) + '\n'),
    // emoji runs with joiners, modifiers and flags
    () => rep(int(1, 12), () => pick([
        '\ud83d\udc68\u200d\ud83d\udcbb', '\ud83c\uddfa\ud83c\udde6', '\ud83d\udc4d\ud83c\udffb', '\u2764\ufe0f',
        '\ud83d\ude02', '\ud83e\udd14', ' ', '\u200d', '\ufe0f', 'ok ', '\ud83c\udf55',
    ])),
    // mixed-script words
    () => rep(int(1, 15), () => pick(words) + rep(int(0, 3), randChar) + pick(seps)),
];

// long pieces (the BPE of pieces over 32 bytes takes another path in C)
const randWord = (n, alphabet) => rep(n, () => alphabet[int(0, alphabet.length - 1)]);
const lower = 'abcdefghijklmnopqrstuvwxyz';
const long = [
    rep(10000, (_, i) => String(i % 10)),
    ' '.repeat(10000),
    '\n'.repeat(3000),
    ' '.repeat(5000) + 'x',
    '\t'.repeat(2000) + '\n',
    'a'.repeat(5000),
    'ab'.repeat(2500),
    'supercalifragilisticexpialidocious'.repeat(150),
    randWord(5000, lower),
    randWord(3000, lower.toUpperCase()),
    randWord(2000, lower + lower.toUpperCase()),
    randWord(1000, 'aeiou'),
    rep(2000, () => randChar()),
    '\u4f60\u597d'.repeat(1500),
    rep(2000, () => String.fromCodePoint(int(0x4e00, 0x9fa5))),
    rep(1500, () => String.fromCodePoint(int(0xac00, 0xd7a3))),
    '\ud83d\ude00'.repeat(1000),
    '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67'.repeat(300),
    '!'.repeat(3000),
    '=-'.repeat(1500),
    '.'.repeat(1000) + '\n',
    rep(1000, () => pick(['(', ')', '[', ']', '{', '}', ';', ',', '.'])),
    '\u0645\u0631\u062d\u0628\u0627'.repeat(500),
    '\u0928\u092e\u0938\u094d\u0924\u0947'.repeat(400),
    'e\u0301'.repeat(1500),
    '\u00e9'.repeat(2000),
    'x'.repeat(128) + 'y'.repeat(129),
    rep(50, () => randWord(int(90, 200), lower) + ' '),
];
for (let n = 90; n <= 130; n += 4)
    long.push(randWord(n, lower), randWord(n, lower + "'"), randWord(n, 'abc'));

const texts = [...fixed, ...long];
const seen = new Set(texts);
while (texts.length < 1400) {
    const t = pick(generators)();
    if (!seen.has(t)) {
        seen.add(t);
        texts.push(t);
    }
}

const lines = texts.map((text) => JSON.stringify({ text, cl100k: ids('cl100k', text), o200k: ids('o200k', text) }));
writeFileSync(join(here, 'corpus.jsonl'), lines.join('\n') + '\n');

// ---- chat requests: OpenAI's rule (3 per message, + tokens of every string
// field, +1 for a name, + 3 for the reply), text content only ----
function chatCount(e, messages) {
    let n = 3;
    for (const m of messages) {
        n += 3;
        for (const [k, v] of Object.entries(m)) {
            if (typeof v === 'string')
                n += ids(e, v).length;
            else if (Array.isArray(v))
                for (const p of v)
                    if (p.type === 'text')
                        n += ids(e, p.text).length;
            if (k === 'name')
                n += 1;
        }
    }
    return n;
}
const chats = [
    [{ role: 'user', content: 'Hello!' }],
    [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is 2+2?' }],
    [
        { role: 'system', content: 'Réponds en français.' },
        { role: 'user', name: 'alice', content: "What's the weather like in 東京 today? 🌧️" },
        { role: 'assistant', content: 'Il pleut à Tokyo aujourd\'hui.' },
        { role: 'user', name: 'bob_2', content: '<|endoftext|> is just text here' },
    ],
    [{ role: 'user', content: [{ type: 'text', text: 'Describe these:' }, { type: 'text', text: ' two parts\n\nof text' }] }],
    [{ role: 'developer', content: 'Be terse.' }, { role: 'user', content: '' }],
    [{ role: 'tool', tool_call_id: 'call_abc123', content: '{"temperature": 21.5, "unit": "celsius"}' }],
];
const chatOut = [];
for (const messages of chats)
    for (const model of ['gpt-4', 'gpt-4o'])
        chatOut.push({ model, messages, expected: chatCount(model === 'gpt-4' ? 'cl100k' : 'o200k', messages) });
writeFileSync(join(here, 'chat.json'), JSON.stringify(chatOut, null, 1) + '\n');

console.log(`corpus.jsonl: ${texts.length} strings; chat.json: ${chatOut.length} requests`);
