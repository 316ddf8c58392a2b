// A JSON reader over bytes in the policy's memory that allocates nothing: a document is read where it
// lies, and a value is named by its byte position in it. validate() checks the whole text once (the
// SDK does it before configure() sees the text), after which the accessors trust it. Only str()
// allocates (an AssemblyScript String), for messages and tables built in configure().
//
//   const devices = json.get(json.root, "devices");      // -1: no such member
//   for (let e = json.first(devices); e >= 0; e = json.next(e)) { ... json.stringIs(e, "c 1:3") ... }

/** What a value is. */
export enum JsonKind { Invalid = 0, Null = 1, False = 2, True = 3, Number = 4, String = 5, Array = 6, Object = 7 }

/** Nesting deeper than this is refused by validate(): configurations are shallow. */
export const JSON_MAX_DEPTH: i32 = 64;

export class Json {
  /** Why validate() failed (a literal, so it allocates nothing), and at which byte; "" and -1 when valid. */
  error: string = "";
  errorAt: i32 = -1;

  constructor(readonly ptr: usize, readonly len: i32) {}

  private at(p: i32): u32 {
    return p < this.len ? <u32>load<u8>(this.ptr + <usize>p) : 0;
  }

  private ws(p: i32): i32 {
    while (p < this.len) {
      const c = this.at(p);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      p++;
    }
    return p;
  }

  private fail(p: i32, why: string): i32 {
    if (this.errorAt < 0) { this.errorAt = p; this.error = why; }
    return -1;
  }

  /** Checks that the bytes are exactly one JSON value (RFC 8259), nested at most JSON_MAX_DEPTH deep. */
  validate(): bool {
    this.error = ""; this.errorAt = -1;
    const end = this.parseValue(this.ws(0), 0);
    if (end < 0) return false;
    if (this.ws(end) != this.len) { this.fail(this.ws(end), "text after the value"); return false; }
    return true;
  }

  private parseValue(p: i32, depth: i32): i32 {
    if (p >= this.len) return this.fail(p, "unexpected end");
    const c = this.at(p);
    if (c == 0x7b /* { */ || c == 0x5b /* [ */) {
      if (depth >= JSON_MAX_DEPTH) return this.fail(p, "nested too deep");
      const object = c == 0x7b;
      const close: u32 = object ? 0x7d : 0x5d;
      p = this.ws(p + 1);
      if (this.at(p) == close) return p + 1;
      for (;;) {
        if (object) {
          if (this.at(p) != 0x22) return this.fail(p, "expected a string key");
          p = this.parseString(p);
          if (p < 0) return -1;
          p = this.ws(p);
          if (this.at(p) != 0x3a) return this.fail(p, "expected ':'");
          p = this.ws(p + 1);
        }
        p = this.parseValue(p, depth + 1);
        if (p < 0) return -1;
        p = this.ws(p);
        const d = this.at(p);
        if (d == close) return p + 1;
        if (d != 0x2c) return this.fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        p = this.ws(p + 1);
      }
    }
    if (c == 0x22) return this.parseString(p);
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber(p);
    if (this.literal(p, "true") || this.literal(p, "null")) return p + 4;
    if (this.literal(p, "false")) return p + 5;
    return this.fail(p, "unexpected character");
  }

  private literal(p: i32, word: string): bool {
    for (let i = 0; i < word.length; i++) if (this.at(p + i) != <u32>word.charCodeAt(i)) return false;
    return true;
  }

  private parseString(p: i32): i32 {
    p++;
    while (p < this.len) {
      if (p >= this.len) return this.fail(p, "unterminated string");
      const c = this.at(p);
      if (c == 0x22) return p + 1;
      if (c < 0x20) return this.fail(p, "control character in a string");
      if (c == 0x5c) {
        const e = this.at(p + 1);
        if (e == 0x75 /* u */) {
          for (let i = 2; i < 6; i++) if (hexDigit(this.at(p + i)) < 0) return this.fail(p, "bad \\u escape");
          p += 6;
          continue;
        }
        if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) {
          return this.fail(p, "bad escape");
        }
        p += 2;
        continue;
      }
      p++;
    }
    return this.fail(p, "unterminated string");
  }

  private parseNumber(p: i32): i32 {
    if (this.at(p) == 0x2d) p++;
    if (this.at(p) == 0x30) p++;
    else if (this.at(p) >= 0x31 && this.at(p) <= 0x39) { while (isDigit(this.at(p))) p++; }
    else return this.fail(p, "bad number");
    if (this.at(p) == 0x2e) {
      p++;
      if (!isDigit(this.at(p))) return this.fail(p, "bad number");
      while (isDigit(this.at(p))) p++;
    }
    if (this.at(p) == 0x65 || this.at(p) == 0x45) {
      p++;
      if (this.at(p) == 0x2b || this.at(p) == 0x2d) p++;
      if (!isDigit(this.at(p))) return this.fail(p, "bad number");
      while (isDigit(this.at(p))) p++;
    }
    return p;
  }

  /** The position of the top-level value. */
  get root(): i32 {
    return this.ws(0);
  }

  kind(p: i32): JsonKind {
    if (p < 0 || p >= this.len) return JsonKind.Invalid;
    const c = this.at(p);
    if (c == 0x7b) return JsonKind.Object;
    if (c == 0x5b) return JsonKind.Array;
    if (c == 0x22) return JsonKind.String;
    if (c == 0x74) return JsonKind.True;
    if (c == 0x66) return JsonKind.False;
    if (c == 0x6e) return JsonKind.Null;
    return JsonKind.Number;
  }

  /** The position just after the value at `p` (of a validated document). */
  end(p: i32): i32 {
    const c = this.at(p);
    if (c == 0x22) return this.skipString(p);
    if (c == 0x7b || c == 0x5b) {
      let depth = 0;
      while (p < this.len) {
        const d = this.at(p);
        if (d == 0x22) { p = this.skipString(p); continue; }
        if (d == 0x7b || d == 0x5b) depth++;
        else if (d == 0x7d || d == 0x5d) { depth--; if (depth == 0) return p + 1; }
        p++;
      }
    }
    while (p < this.len) {
      const d = this.at(p);
      if (d == 0x2c || d == 0x7d || d == 0x5d || d == 0x20 || d == 0x09 || d == 0x0a || d == 0x0d) break;
      p++;
    }
    return p;
  }

  private skipString(p: i32): i32 {
    p++;
    while (p < this.len) {
      const c = this.at(p);
      if (c == 0x22) return p + 1;
      p += c == 0x5c ? 2 : 1;
    }
    return p;
  }

  /** An array's first element or an object's first key; -1 when empty or not a container. */
  first(p: i32): i32 {
    const k = this.kind(p);
    if (k != JsonKind.Array && k != JsonKind.Object) return -1;
    const q = this.ws(p + 1);
    const c = this.at(q);
    return c == 0x5d || c == 0x7d ? -1 : q;
  }

  /** The element after the element `p`, or the key after the key `p`; -1 after the last. */
  next(p: i32): i32 {
    let q = this.ws(this.end(p));
    if (this.at(q) == 0x3a) q = this.ws(this.end(this.ws(q + 1))); // p was a key: skip its value
    if (this.at(q) != 0x2c) return -1;
    return this.ws(q + 1);
  }

  /** The value of the member whose key is at `key`. */
  value(key: i32): i32 {
    return this.ws(this.ws(this.end(key)) + 1);
  }

  /** The value of member `name` of the object at `p` (the last one, when repeated); -1 when absent. */
  get(p: i32, name: string): i32 {
    if (this.kind(p) != JsonKind.Object) return -1;
    let found = -1;
    for (let k = this.first(p); k >= 0; k = this.next(k)) if (this.stringIs(k, name)) found = this.value(k);
    return found;
  }

  /** The key of the first member of the object at `p` not named in `names` ("a,b,c"); -1 when none. */
  unknownKey(p: i32, names: string): i32 {
    for (let k = this.first(p); k >= 0; k = this.next(k)) {
      let start = 0, known = false;
      while (start <= names.length && !known) {
        let stop = names.indexOf(",", start);
        if (stop < 0) stop = names.length;
        known = this.stringIsRange(k, names, start, stop);
        start = stop + 1;
      }
      if (!known) return k;
    }
    return -1;
  }

  /** Elements of the array or members of the object at `p`. */
  count(p: i32): i32 {
    let n = 0;
    for (let e = this.first(p); e >= 0; e = this.next(e)) n++;
    return n;
  }

  isTrue(p: i32): bool { return this.kind(p) == JsonKind.True; }
  isBool(p: i32): bool { const k = this.kind(p); return k == JsonKind.True || k == JsonKind.False; }

  /** Whether the number at `p` is an integer (no fraction, no exponent) of at most 18 digits. */
  isInteger(p: i32): bool {
    if (this.kind(p) != JsonKind.Number) return false;
    let q = p;
    if (this.at(q) == 0x2d) q++;
    const start = q;
    while (isDigit(this.at(q))) q++;
    return q == this.end(p) && q - start <= 18;
  }

  /** The integer at `p` (check isInteger first). */
  integer(p: i32): i64 {
    let q = p, negative = false, n: i64 = 0;
    if (this.at(q) == 0x2d) { negative = true; q++; }
    while (isDigit(this.at(q))) { n = n * 10 + <i64>(this.at(q) - 0x30); q++; }
    return negative ? -n : n;
  }

  /** Whether the value at `p` is the string `s` (escapes decoded). */
  stringIs(p: i32, s: string): bool {
    return this.stringIsRange(p, s, 0, s.length);
  }

  private stringIsRange(p: i32, s: string, from: i32, to: i32): bool {
    if (this.kind(p) != JsonKind.String) return false;
    let q = p + 1, i = from;
    while (q < this.len) {
      const c = this.at(q);
      if (c == 0x22) return i == to;
      let cp: u32;
      // Decoded code point at q (UTF-8 or escape), compared with the UTF-16 of s.
      if (c == 0x5c) {
        const e = this.at(q + 1);
        if (e == 0x75) {
          cp = <u32>((hexDigit(this.at(q + 2)) << 12) | (hexDigit(this.at(q + 3)) << 8) | (hexDigit(this.at(q + 4)) << 4) | hexDigit(this.at(q + 5)));
          q += 6;
        } else {
          cp = e == 0x62 ? 8 : e == 0x66 ? 12 : e == 0x6e ? 10 : e == 0x72 ? 13 : e == 0x74 ? 9 : e;
          q += 2;
        }
        if (i >= to || <u32>s.charCodeAt(i) != cp) return false;
        i++;
        continue;
      }
      const width: i32 = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      cp = width == 1 ? c : width == 2 ? c & 0x1f : width == 3 ? c & 0x0f : c & 0x07;
      for (let j = 1; j < width; j++) cp = (cp << 6) | (this.at(q + j) & 0x3f);
      q += width;
      if (cp >= 0x10000) {
        if (i + 1 >= to) return false;
        const v = cp - 0x10000;
        if (<u32>s.charCodeAt(i) != 0xd800 + (v >> 10) || <u32>s.charCodeAt(i + 1) != 0xdc00 + (v & 0x3ff)) return false;
        i += 2;
      } else {
        if (i >= to || <u32>s.charCodeAt(i) != cp) return false;
        i++;
      }
    }
    return false;
  }

  /**
   * Copies the string at `p` into [dst, dst+cap) as UTF-8, escapes decoded; its decoded length (which
   * may exceed cap: then only cap bytes were written), or -1 when `p` is not a string.
   */
  copyString(p: i32, dst: usize, cap: i32): i32 {
    if (this.kind(p) != JsonKind.String) return -1;
    let q = p + 1, n = 0;
    while (q < this.len) {
      const c = this.at(q);
      if (c == 0x22) return n;
      if (c == 0x5c) {
        const e = this.at(q + 1);
        if (e == 0x75) {
          const cp = <u32>((hexDigit(this.at(q + 2)) << 12) | (hexDigit(this.at(q + 3)) << 8) | (hexDigit(this.at(q + 4)) << 4) | hexDigit(this.at(q + 5)));
          q += 6;
          const width: i32 = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
          for (let j = 0; j < width; j++) {
            const b: u32 = width == 1 ? cp
              : j == 0 ? (width == 2 ? 0xc0 | (cp >> 6) : 0xe0 | (cp >> 12))
              : width == 2 || j == 2 ? 0x80 | (cp & 0x3f) : 0x80 | ((cp >> 6) & 0x3f);
            if (n < cap) store<u8>(dst + <usize>n, <u8>b);
            n++;
          }
          continue;
        }
        const b: u32 = e == 0x62 ? 8 : e == 0x66 ? 12 : e == 0x6e ? 10 : e == 0x72 ? 13 : e == 0x74 ? 9 : e;
        if (n < cap) store<u8>(dst + <usize>n, <u8>b);
        n++;
        q += 2;
        continue;
      }
      if (n < cap) store<u8>(dst + <usize>n, <u8>c);
      n++;
      q++;
    }
    return n;
  }

  /** The string at `p` as a String (allocates: for configure(), not for decide()); "" when not a string. */
  str(p: i32): string {
    const n = this.copyString(p, 0, 0);
    if (n <= 0) return "";
    const buffer = new ArrayBuffer(n);
    this.copyString(p, changetype<usize>(buffer), n);
    return String.UTF8.decode(buffer);
  }

  /** The raw text of the value at `p`, as it is written (allocates; for messages). */
  text(p: i32): string {
    if (p < 0 || p >= this.len) return "";
    return String.UTF8.decodeUnsafe(this.ptr + <usize>p, <usize>(this.end(p) - p));
  }
}

function isDigit(c: u32): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x41 + 10);
  return -1;
}
