// 统一社会信用代码 (GB 32100-2015) check character, for the desk's forms: the algorithm of registry/uscc.py
// (checked in Chromium against the vectors of tests/test_uscc.py).  The server still decides (positions 1-2,
// the embedded organisation code): this only spares the clerk a round trip for a mistyped last character.
"use strict";
(() => {
  const CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  // C18 = CHARSET[(31 - S mod 31) mod 31], S = sum(value(c_i) * 3^(i-1) mod 31), i = 1..17; null if not 17 of CHARSET
  function usccCheckChar(first17) {
    if (typeof first17 !== "string" || first17.length !== 17) return null;
    let sum = 0, weight = 1;
    for (const c of first17) {
      const v = CHARSET.indexOf(c);
      if (v < 0) return null;
      sum += v * weight;
      weight = (weight * 3) % 31;
    }
    return CHARSET[(31 - (sum % 31)) % 31];
  }
  globalThis.usccCheckChar = usccCheckChar;
})();
