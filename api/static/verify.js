/*
 * regledger: verify a registration's history in the browser, trusting nothing the server says.
 *
 * On "verify / 验证" it fetches /v1/registrations/{id}/history and checks, with WebCrypto only:
 *  1. the trusted log key (the vkey in the input, C2SP signed-note form name+hex8+base64(0x01||pub))
 *     is well-formed and its key id is SHA-256(name || 0x0A || 0x01 || pub)[:4];
 *  2. the checkpoint's signed-note signature (Ed25519 over the note text up to and including the
 *     newline before the blank line) by that key, and its origin equals the key name;
 *  3. for every step: the leaf bytes are an entry for this registration at that index, its leaf
 *     hash SHA-256(0x00 || leaf) and its C2SP tlog-proof lead, by RFC 9162 section 2.1.3.2, to the
 *     root of the signed checkpoint;
 *  4. every step the page shows was proven;
 *  5. completeness: the registration's status proof (/v1/registrations/{id}/status-proof?size=N, the
 *     status map of docs/formats.md) against the same signed checkpoint: its regledger-map/v1 line, the
 *     map proof (SHA-256 with prefixes 0x10 key, 0x11 value, 0x12 leaf, 0x13 node), and the value's
 *     `indexes` equal to the proven steps, so no step was left out ("历史完整 / history complete").
 * The result panel turns green (verified / 已验证), red (with what failed), or amber when some
 * steps are not yet in a signed checkpoint.
 */
(function () {
  "use strict";

  var EM_DASH_SP = "\u2014 ";
  var enc = new TextEncoder();

  function Failure(msg) { this.message = msg; }

  function b64decode(s, what) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      throw new Failure((what || "value") + " is not standard base64");
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  function concat() {
    var n = 0, i;
    for (i = 0; i < arguments.length; i++) n += arguments[i].length;
    var out = new Uint8Array(n), off = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], off); off += arguments[i].length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  var LEAF = new Uint8Array([0]), NODE = new Uint8Array([1]);

  function hashChildren(left, right) { return sha256(concat(NODE, left, right)); }

  /* C2SP signed-note verifier key: <name>+<hex8 key id>+base64(0x01 || 32-byte Ed25519 key). */
  async function parseVkey(vkey) {
    vkey = (vkey || "").trim();
    var i = vkey.indexOf("+"), j = i < 0 ? -1 : vkey.indexOf("+", i + 1);
    if (i <= 0 || j < 0) throw new Failure("the log key is not a verifier key (name+id+key)");
    var name = vkey.slice(0, i), idHex = vkey.slice(i + 1, j);
    if (/[\s+]/.test(name)) throw new Failure("the log key's name contains a space or '+'");
    if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Failure("the log key's id is not 8 hex digits");
    var raw = b64decode(vkey.slice(j + 1), "the log key");
    if (raw.length !== 33 || raw[0] !== 0x01) throw new Failure("the log key is not an Ed25519 key (type 0x01, 32 bytes)");
    var pub = raw.slice(1);
    var id = (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, 0x01]), pub))).slice(0, 4);
    if (hex(id) !== idHex) throw new Failure("the log key's id " + idHex + " does not match its key (" + hex(id) + ")");
    var key;
    try {
      key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      throw new Failure("this browser cannot verify Ed25519 signatures with WebCrypto (" + (e && e.name || e) + ")");
    }
    return { name: name, id: id, idHex: idHex, key: key };
  }

  /* A signed note: text ending in "\n", a blank line, then "— <name> base64(id[4] || sig)" lines. */
  async function verifyNote(text, log) {
    if (typeof text !== "string" || !text.endsWith("\n")) throw new Failure("the checkpoint is not a signed note");
    var k = text.lastIndexOf("\n\n");
    if (k < 0) throw new Failure("the checkpoint has no signature block");
    var message = text.slice(0, k + 1);
    var lines = text.slice(k + 2, -1).split("\n");
    var sawOurs = false;
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (!line.startsWith(EM_DASH_SP)) throw new Failure("malformed signature line in the checkpoint");
      var rest = line.slice(EM_DASH_SP.length), sp = rest.lastIndexOf(" ");
      if (sp <= 0) throw new Failure("malformed signature line in the checkpoint");
      if (rest.slice(0, sp) !== log.name) continue; // other signers (witnesses) are ignored
      var raw = b64decode(rest.slice(sp + 1), "a checkpoint signature");
      if (raw.length < 4 || !equal(raw.slice(0, 4), log.id)) continue;
      sawOurs = true;
      if (raw.length !== 68) throw new Failure("the log's checkpoint signature has the wrong length");
      var ok = await crypto.subtle.verify({ name: "Ed25519" }, log.key, raw.slice(4), enc.encode(message));
      if (ok) return message;
    }
    throw new Failure(sawOurs ? "the checkpoint's signature does not verify with the log key"
                              : "the checkpoint carries no signature by the log key " + log.name + "+" + log.idHex);
  }

  /* C2SP tlog-checkpoint body: origin, decimal size, base64 root, optional extension lines. */
  function parseCheckpoint(message) {
    var lines = message.split("\n");
    if (lines.length < 4) throw new Failure("the checkpoint has fewer than three lines");
    if (!/^(0|[1-9][0-9]{0,18})$/.test(lines[1])) throw new Failure("the checkpoint's size is not a decimal number");
    var root = b64decode(lines[2], "the checkpoint's root hash");
    if (root.length !== 32) throw new Failure("the checkpoint's root is not 32 bytes");
    return { origin: lines[0], size: BigInt(lines[1]), root: root, extensions: lines.slice(3, -1) };
  }

  /* The status map (docs/formats.md): a compacted sparse Merkle tree over SHA-256(0x10 || key). */
  var MAP_LINE = "regledger-map/v1 ", EMPTY = new Uint8Array(32);

  function mapRootOf(cp) {
    var found = cp.extensions.filter(function (l) { return l.split(" ")[0] === MAP_LINE.trim(); });
    if (found.length !== 1) throw new Failure("the checkpoint has " + found.length + " regledger-map/v1 lines, not one");
    var root = b64decode(found[0].slice(MAP_LINE.length), "the map root");
    if (root.length !== 32 || !found[0].startsWith(MAP_LINE)) throw new Failure("the map root is not a 32-byte hash");
    return root;
  }

  /* RFC 8785 canonical JSON of the two value shapes the map holds. */
  function canonicalValue(v) {
    var keys = Object.keys(v || {});
    if (keys.length === 1 && keys[0] === "indexes" && Array.isArray(v.indexes) &&
        v.indexes.every(function (i) { return Number.isSafeInteger(i) && i >= 0; })) {
      return '{"indexes":[' + v.indexes.join(",") + "]}";
    }
    if (keys.length === 1 && keys[0] === "registration" && typeof v.registration === "string") {
      return '{"registration":' + JSON.stringify(v.registration) + "}";
    }
    throw new Failure("the status proof's value is neither {indexes} nor {registration}");
  }

  function bitAt(h, d) { return (h[d >> 3] >> (7 - (d & 7))) & 1; }

  async function verifyMapProof(root, key, value, siblings, leaf) {
    if (siblings.length % 32 !== 0) throw new Failure("siblings is not a whole number of hashes");
    var n = siblings.length / 32;
    if (n > 256) throw new Failure("more than 256 siblings");
    var sib = function (d) { return siblings.slice(32 * d, 32 * d + 32); };
    var kh = await sha256(concat(new Uint8Array([0x10]), enc.encode(key)));
    var h;
    if (n > 0 && equal(sib(n - 1), EMPTY)) throw new Failure("non-canonical proof: its last sibling is empty");
    if (leaf === null) {
      if (value !== null) throw new Failure("the proof shows the key absent, but a value is claimed");
      h = EMPTY;
    } else {
      var lk = b64decode(leaf && leaf.key_hash, "leaf.key_hash"), lv = b64decode(leaf && leaf.value_hash, "leaf.value_hash");
      if (lk.length !== 32 || lv.length !== 32) throw new Failure("the leaf's hashes are not 32 bytes");
      if (equal(lk, kh)) {
        if (value === null) throw new Failure("the proof shows the key present, but absence is claimed");
        var vh = await sha256(concat(new Uint8Array([0x11]), enc.encode(canonicalValue(value))));
        if (!equal(vh, lv)) throw new Failure("the map holds another value for " + key);
      } else {
        if (value !== null) throw new Failure("the proof ends in another key's leaf, but a value is claimed");
        for (var d0 = 0; d0 < n; d0++) {
          if (bitAt(lk, d0) !== bitAt(kh, d0)) throw new Failure("the leaf found is not on the key's path");
        }
      }
      h = await sha256(concat(new Uint8Array([0x12]), lk, lv));
    }
    var NODE_MAP = new Uint8Array([0x13]);
    for (var d = n - 1; d >= 0; d--) {
      h = bitAt(kh, d) ? await sha256(concat(NODE_MAP, sib(d), h)) : await sha256(concat(NODE_MAP, h, sib(d)));
    }
    if (!equal(h, root)) throw new Failure("the map proof of " + key + " does not lead to the signed map root");
  }

  /* C2SP tlog-proof: header, optional "extra", "index N", hashes, blank line, checkpoint verbatim. */
  function parseProof(text) {
    var lines = text.split("\n"), i = 0;
    if (lines[i++] !== "c2sp.org/tlog-proof@v1") throw new Failure("not a c2sp.org/tlog-proof@v1 proof");
    if (lines[i] && lines[i].startsWith("extra ")) i++;
    var m = /^index (0|[1-9][0-9]{0,18})$/.exec(lines[i++] || "");
    if (!m) throw new Failure("the proof has no index line");
    var hashes = [];
    while (i < lines.length && lines[i] !== "") {
      var h = b64decode(lines[i++], "a proof hash");
      if (h.length !== 32) throw new Failure("a proof hash is not 32 bytes");
      hashes.push(h);
    }
    if (i >= lines.length) throw new Failure("the proof has no checkpoint");
    return { index: BigInt(m[1]), hashes: hashes, checkpoint: lines.slice(i + 1).join("\n") };
  }

  /* RFC 9162 section 2.1.3.2: the root an inclusion proof leads to. */
  async function rootFromInclusion(index, size, leafHash, path) {
    if (index >= size) throw new Failure("index " + index + " is not below the tree size " + size);
    var fn = index, sn = size - 1n, r = leafHash;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === 0n) throw new Failure("the inclusion proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await hashChildren(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await hashChildren(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Failure("the inclusion proof is too short");
    return r;
  }

  /* GET url as JSON, not cached; a Failure naming `what` if that fails. */
  async function fetchJson(url, what) {
    var resp;
    try {
      resp = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Failure("could not fetch " + what + ": " + e);
    }
    if (!resp.ok) throw new Failure("fetching " + what + " failed: HTTP " + resp.status);
    try { return await resp.json(); } catch (e) { throw new Failure(what + " is not JSON"); }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function show(panel, state, zh, en, items) {
    panel.setAttribute("data-state", state);
    panel.replaceChildren();
    var head = el("p", "headline");
    var z = el("span", "", zh); z.lang = "zh-CN";
    var e = el("span", "en", en); e.lang = "en";
    head.append(z, " ", e);
    panel.append(head);
    if (items && items.length) {
      var ul = el("ul");
      items.forEach(function (it) { ul.append(el("li", it.cls || "", it.text)); });
      panel.append(ul);
    }
  }

  async function run(section, panel, vkeyInput) {
    var items = [], failures = 0, pending = 0;
    function ok(t) { items.push({ cls: "ok", text: "\u2713 " + t }); }
    function fail(t) { failures++; items.push({ cls: "fail", text: "\u2717 " + t }); }
    function warn(t) { pending++; items.push({ cls: "warn", text: "\u2026 " + t }); }

    if (!window.crypto || !crypto.subtle) {
      throw new Failure("WebCrypto is not available here (it needs HTTPS or localhost)");
    }
    var regId = section.getAttribute("data-registration") || "";
    var url = section.getAttribute("data-history-url");
    var shown = (section.getAttribute("data-indexes") || "").split(",").filter(Boolean);

    var data = await fetchJson(url, "the history");
    if (!data || typeof data !== "object" || !Array.isArray(data.steps)) throw new Failure("the history has no steps");
    if (data.registration !== regId) throw new Failure("the history is for " + data.registration + ", not " + regId);

    var trusted = (vkeyInput && vkeyInput.value.trim()) || data.vkey;
    var log = await parseVkey(trusted);
    ok("log key " + log.name + "+" + log.idHex + " is a well-formed Ed25519 key / 日志公钥格式正确");
    if (data.vkey && data.vkey.trim() !== trusted) {
      items.push({ cls: "warn", text: "note: the server names a different log key (" + data.vkey + "); checking with yours" });
    }

    var checkpoints = {}; // note text -> parsed checkpoint, each signature checked once
    async function openCheckpoint(text) {
      if (!Object.prototype.hasOwnProperty.call(checkpoints, text)) {
        var cp = parseCheckpoint(await verifyNote(text, log));
        if (cp.origin !== log.name) throw new Failure("the checkpoint's origin " + cp.origin + " is not the key's name");
        checkpoints[text] = cp;
      }
      return checkpoints[text];
    }
    var top = await openCheckpoint(data.checkpoint);
    ok("checkpoint signature verified: size " + top.size + ", root " + b64encode(top.root) + " / 检查点签名有效");

    var proven = {};
    var dec = new TextDecoder("utf-8", { fatal: true });
    for (var s = 0; s < data.steps.length; s++) {
      var st = data.steps[s], idx = st && st.index;
      var label = "step " + (s + 1) + " (log index " + idx + ")";
      try {
        if (!Number.isSafeInteger(idx) || idx < 0) throw new Failure("has no valid index");
        var leaf = b64decode(st.leaf, "the entry bytes");
        var entry;
        try { entry = JSON.parse(dec.decode(leaf)); } catch (e) { throw new Failure("entry bytes are not a JSON entry"); }
        if (!entry || entry.index !== idx) throw new Failure("the entry bytes are for index " + (entry && entry.index));
        if (!entry.statement || entry.statement.subject !== regId) {
          throw new Failure("the entry is about " + (entry.statement && entry.statement.subject) + ", not " + regId);
        }
        if (!st.proof) { warn(label + ": not yet in a signed checkpoint / 尚未纳入检查点"); continue; }
        var proof = parseProof(st.proof);
        if (proof.index !== BigInt(idx)) throw new Failure("the proof is for index " + proof.index);
        var cp = await openCheckpoint(proof.checkpoint);
        var leafHash = await sha256(concat(LEAF, leaf));
        var root = await rootFromInclusion(proof.index, cp.size, leafHash, proof.hashes);
        if (!equal(root, cp.root)) {
          throw new Failure("inclusion proof does not lead to the signed root (got " + b64encode(root) + ")");
        }
        proven[String(idx)] = true;
        ok(label + " " + (entry.statement.kind || "") + ": included in the tree of size " + cp.size + " / 已包含");
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        fail(label + ": " + e.message);
      }
    }
    shown.forEach(function (i) {
      if (!proven[i] && !data.steps.some(function (st) { return String(st.index) === i; })) {
        fail("the page shows log index " + i + " but the server gave no entry for it / 页面所列步骤缺少证明");
      }
    });
    if (data.steps.length === 0) fail("the history has no steps to verify");
    var complete = false;
    var statusUrl = section.getAttribute("data-status-url"), mapKey = section.getAttribute("data-map-key");
    if (statusUrl && mapKey && !failures && !pending) {
      try {
        complete = await checkComplete(statusUrl + "?size=" + top.size, mapKey, regId, top, openCheckpoint, proven);
        ok("历史完整 / history complete as of checkpoint " + top.size + ": the status proof lists exactly these " +
           Object.keys(proven).length + " entries");
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        fail("status proof / 完整性证明: " + e.message);
      }
    }
    return { items: items, failures: failures, pending: pending, size: top.size, count: Object.keys(proven).length,
             complete: complete };
  }

  /* The registration's status proof against the history's checkpoint: its indexes are the proven steps. */
  async function checkComplete(url, mapKey, regId, top, openCheckpoint, proven) {
    var data = await fetchJson(url, "the status proof");
    var doc = data && Array.isArray(data.proofs) ? data.proofs.filter(function (d) { return d && d.key === mapKey; })[0] : null;
    if (!doc) throw new Failure("the server gave no status proof of " + mapKey);
    if (doc.format !== "regledger-status-proof/v1") throw new Failure("not a regledger-status-proof/v1 document");
    var cp = await openCheckpoint(doc.checkpoint);
    if (cp.size !== top.size || !equal(cp.root, top.root)) {
      throw new Failure("it is against checkpoint " + cp.size + ", not the history's " + top.size);
    }
    var value = doc.value === undefined ? null : doc.value;
    await verifyMapProof(mapRootOf(cp), mapKey, value, b64decode(doc.siblings, "siblings"), doc.leaf === undefined ? null : doc.leaf);
    if (value === null) throw new Failure("it proves there is no registration " + regId + " as of checkpoint " + cp.size);
    if (!Array.isArray(value.indexes)) throw new Failure("its value holds no list of indexes");
    var indexes = value.indexes.map(String);
    var whole = "the log's complete history as of checkpoint " + cp.size + " has " + indexes.length + " entries";
    indexes.forEach(function (i) {
      if (!proven[i]) throw new Failure("entry " + i + " is missing from what the server showed: " + whole);
    });
    Object.keys(proven).forEach(function (i) {
      if (indexes.indexOf(i) < 0) throw new Failure("entry " + i + " is not in the registration's history: " + whole);
    });
    return true;
  }

  function init() {
    var section = document.getElementById("verify");
    var button = document.getElementById("verify-button");
    var panel = document.getElementById("verify-result");
    var vkeyInput = document.getElementById("verify-vkey");
    if (!section || !button || !panel) return;
    button.disabled = false;
    button.addEventListener("click", async function () {
      button.disabled = true;
      show(panel, "running", "正在验证…", "Verifying…");
      try {
        var r = await run(section, panel, vkeyInput);
        if (r.failures) {
          show(panel, "fail", "验证失败", "Verification failed", r.items);
        } else if (r.pending) {
          show(panel, "partial", "部分验证：有步骤尚未纳入签名检查点，请稍后重试",
               "Partly verified: some steps are not yet in a signed checkpoint; try again shortly", r.items);
        } else {
          show(panel, "ok", r.complete ? "已验证 · 历史完整" : "已验证",
               "Verified: all " + r.count + " steps are in the log's signed checkpoint of size " + r.size +
               (r.complete ? "; history complete as of checkpoint " + r.size : ""), r.items);
        }
      } catch (e) {
        var msg = e instanceof Failure ? e.message : "unexpected error: " + (e && e.message || e);
        show(panel, "fail", "验证失败", "Verification failed", [{ cls: "fail", text: "\u2717 " + msg }]);
      } finally {
        button.disabled = false;
      }
    });
  }

  // The pure checks, read-only, for anyone who wants to run them by hand (and for the vector tests).
  window.RegledgerVerify = Object.freeze({
    parseVkey: parseVkey, verifyNote: verifyNote, parseCheckpoint: parseCheckpoint, parseProof: parseProof,
    rootFromInclusion: rootFromInclusion, verifyMapProof: verifyMapProof, mapRootOf: mapRootOf, Failure: Failure
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
