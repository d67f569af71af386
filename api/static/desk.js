// The registration desk (/desk): the clerk's Ed25519 key lives in this browser (WebCrypto, non-extractable,
// kept in IndexedDB); every step is prepared by POST /v1/drafts, shown in plain words, signed here over the
// RFC 8785 canonical JSON of the statement without `sig`, and posted to /v1/statements.  No dependencies.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const root = $("desk");
  if (!root) return;
  const L = JSON.parse(root.dataset.labels);
  const enc = new TextEncoder();
  let me = null; // {name, pub, privateKey, keyId, vkey, record}
  let defs = null, kinds = null; // the statement schemas (GET /v1/schemas)

  // ---- bytes, hashes, canonical JSON --------------------------------------------------------------------
  const b64 = (u8) => btoa(String.fromCharCode(...u8));
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (u8) => new Uint8Array(await crypto.subtle.digest("SHA-256", u8));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  };
  // RFC 8785: members sorted by UTF-16 code units (JS's default sort), ECMAScript number and string forms
  const canon = (v) => Array.isArray(v) ? "[" + v.map(canon).join(",") + "]"
    : v !== null && typeof v === "object"
      ? "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}"
      : JSON.stringify(v);

  // statement key id: hex of the first 16 bytes of SHA-256(public key) (keys/ed25519.py statement_key_id)
  const keyIdOf = async (pub) => hex(await sha256(pub)).slice(0, 32);
  // C2SP vkey: name+hex8(SHA-256(name || "\n" || 0x01 || pub)[:4])+base64(0x01 || pub)
  const vkeyOf = async (name, pub) => {
    const h = await sha256(concat(enc.encode(name + "\n"), [1], pub));
    return `${name}+${hex(h.slice(0, 4))}+${b64(concat([1], pub))}`;
  };
  async function parseVkey(text) {
    const t = text.trim(), a = t.indexOf("+"), b = t.indexOf("+", a + 1);
    const parts = a > 0 && b > a ? [t.slice(0, a), t.slice(a + 1, b), t.slice(b + 1)] : [];
    if (parts.length !== 3) throw new Error("公钥格式应为 name+hash+base64 / a vkey is name+hash+base64");
    const raw = unb64(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("只支持 Ed25519 公钥 / only Ed25519 keys");
    const pub = raw.slice(1);
    if ((await vkeyOf(parts[0], pub)) !== text.trim()) throw new Error("公钥校验值不符 / the vkey's hash does not match");
    return { name: parts[0], pub };
  }

  // ---- IndexedDB: one record, the current key ---------------------------------------------------------------
  function idb(mode, fn) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open("regledger-desk", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("keys");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction("keys", mode);
        const req = fn(tx.objectStore("keys"));
        tx.oncomplete = () => { open.result.close(); resolve(req.result); };
        tx.onerror = () => reject(tx.error);
      };
    });
  }
  const loadKey = () => idb("readonly", (s) => s.get("current"));
  const saveKey = (k) => idb("readwrite", (s) => s.put(k, "current"));
  const forgetKey = () => idb("readwrite", (s) => s.delete("current"));

  // ---- the CLI's key file: PKCS#8 PEM encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) ---------------
  const der = (u8, pos) => {
    let len = u8[pos + 1], p = pos + 2;
    if (len & 0x80) { const n = len & 0x7f; len = 0; for (let i = 0; i < n; i++) len = len * 256 + u8[p++]; }
    return { tag: u8[pos], start: p, end: p + len, bytes: u8.slice(p, p + len) };
  };
  const kids = (u8, node) => { const out = []; for (let p = node.start; p < node.end;) { const c = der(u8, p); out.push(c); p = c.end; } return out; };
  const OID = { pbes2: "2a864886f70d01050d", pbkdf2: "2a864886f70d01050c", sha256: "2a864886f70d0209", aes256: "60864801650304012a" };
  async function importKeyFile(pem, passphrase, pub) {
    const body = pem.replace(/-----(BEGIN|END) ENCRYPTED PRIVATE KEY-----/g, "").replace(/\s+/g, "");
    if (!/BEGIN ENCRYPTED PRIVATE KEY/.test(pem) || !body) throw new Error("不是加密的 PKCS#8 密钥文件 / not an encrypted PKCS#8 key file");
    const u8 = unb64(body);
    const [alg, data] = kids(u8, der(u8, 0));
    const [oid, params] = kids(u8, alg);
    const [kdf, cipher] = kids(u8, params);
    const [kdfOid, kdfParams] = kids(u8, kdf);
    const kp = kids(u8, kdfParams);
    const [cipherOid, iv] = kids(u8, cipher);
    const prf = kp.find((c) => c.tag === 0x30);
    if (hex(oid.bytes) !== OID.pbes2 || hex(kdfOid.bytes) !== OID.pbkdf2 || hex(cipherOid.bytes) !== OID.aes256
      || !prf || hex(kids(u8, prf)[0].bytes) !== OID.sha256) {
      throw new Error("只支持 PBES2（PBKDF2-HMAC-SHA256、AES-256-CBC）加密的密钥 / only PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC");
    }
    const iterations = kp[1].bytes.reduce((n, b) => n * 256 + b, 0);
    const base = await crypto.subtle.importKey("raw", enc.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
    const aes = await crypto.subtle.deriveKey({ name: "PBKDF2", salt: kp[0].bytes, iterations, hash: "SHA-256" },
      base, { name: "AES-CBC", length: 256 }, false, ["decrypt"]);
    let privateKey;
    try {
      const pkcs8 = await crypto.subtle.decrypt({ name: "AES-CBC", iv: iv.bytes }, aes, data.bytes);
      privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
    } catch (e) {
      throw new Error("口令不对，或文件已损坏 / wrong passphrase, or a damaged file");
    }
    const probe = enc.encode("regledger desk key check");
    const pubKey = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, pubKey, await crypto.subtle.sign({ name: "Ed25519" }, privateKey, probe), probe);
    if (!ok) throw new Error("私钥与公钥不匹配 / the key file and the vkey are not one key pair");
    return privateKey;
  }

  // ---- small DOM helpers -------------------------------------------------------------------------------------
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const bi = (zh, en) => [el("span", { lang: "zh-CN", text: zh }), " ", el("span", { class: "en", lang: "en", text: en })];
  const labelOf = (table, k, fallback) => (L[table][k] ? bi(L[table][k][0], L[table][k][1]) : [el("code", { text: fallback || k })]);
  const message = (box, kind, ...content) => { box.replaceChildren(el("p", { class: "notice" + (kind ? " " + kind : "") }, ...content)); };
  const show = (id, on = true) => { $(id).hidden = !on; };
  const idFor = (ptr) => "f" + ptr.replace(/[^A-Za-z0-9_]/g, "-");

  async function call(method, path, body) {
    const r = await fetch(path, { method, headers: body ? { "content-type": "application/json" } : {}, body });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data };
  }

  // ---- field errors: beside the field the problem names ----------------------------------------------------
  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach((e) => e.remove());
    form.querySelectorAll("[aria-invalid]").forEach((e) => { e.removeAttribute("aria-invalid"); e.setAttribute("aria-describedby", e.dataset.help || ""); });
  }
  function fieldError(form, pointer, text) {
    let target = null;
    for (let p = pointer; p && !target; p = p.slice(0, p.lastIndexOf("/"))) target = form.querySelector(`[data-pointer="${CSS.escape(p)}"]`);
    const note = el("p", { class: "field-error", id: (target ? target.id : "form") + "-error", role: "alert" }, "⚠ ", text);
    if (!target) { form.querySelector(".form-error").replaceChildren(note); return null; }
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", ((target.dataset.help || "") + " " + note.id).trim());
    target.closest(".field, fieldset").append(note);
    return target;
  }
  function showProblem(form, problem, status) {
    const p = problem || {};
    const text = `${p.title || "HTTP " + status}: ${p.detail || ""}` + (p.field ? ` (${p.field})` : "");
    const target = p.field ? fieldError(form, p.field, text) : null;
    form.querySelector(".form-error").replaceChildren(el("p", { class: "notice error", role: "alert" },
      ...bi("未被接受", "Refused"), " — ", text));
    if (target) target.focus();
  }

  // ---- forms built from the statement schemas ---------------------------------------------------------------
  const resolve = (s) => (s && s.$ref ? defs[s.$ref.split("/").pop()] : s);
  function unwrap(s) {
    if (s.anyOf) { const non = s.anyOf.filter((x) => x.type !== "null"); if (non.length === 1) return [resolve(non[0]), true]; }
    return [resolve(s), false];
  }
  // builds labelled inputs into `box` for the object schema; returns the collector list
  function buildObject(box, schema, ptr, required, value, inputs, group) {
    for (const [name, raw] of Object.entries(schema.properties || {})) {
      const [s, nullable] = unwrap(raw);
      const req = (schema.required || []).includes(name) && !nullable;
      const p = ptr + "/" + name;
      const v = value ? value[name] : undefined;
      if (s.type === "object") {
        const fs = el("fieldset", { "data-pointer": "/payload" + p, id: idFor(p), tabindex: "-1" },
          el("legend", {}, ...labelOf("fields", name, s.title), req && required ? " *" : ""));
        box.append(fs);
        buildObject(fs, s, p, req && required, v, inputs, req && required ? group : p);
        continue;
      }
      const id = idFor(p);
      const help = s.description ? el("span", { class: "help small muted", id: id + "-help", text: s.description }) : null;
      const attrs = { id, name: p, "data-pointer": "/payload" + p, "data-help": help ? id + "-help" : "", "aria-describedby": help ? id + "-help" : null };
      let input;
      const isReq = req && required && !group;
      if (s.enum || s.type === "boolean") {
        const values = s.enum || [true, false];
        const names = L.values[name] || {};
        input = el("select", { ...attrs, required: isReq },
          el("option", { value: "", text: "请选择 / choose" }),
          values.map((x) => el("option", { value: JSON.stringify(x), selected: v !== undefined && JSON.stringify(v) === JSON.stringify(x),
            text: x === true ? "是 / yes" : x === false ? "否 / no" : names[x] ? `${names[x][0]} / ${names[x][1]} (${x})` : String(x) })));
      } else if (s.type === "array") {
        input = el("textarea", { ...attrs, rows: 3, required: isReq && s.minItems > 0 });
        input.value = Array.isArray(v) ? v.join("\n") : "";
      } else if (s.type === "integer") {
        input = el("input", { ...attrs, type: "number", step: 1, min: s.minimum, required: isReq, inputmode: "numeric" });
        input.value = v ?? "";
      } else {
        const long = (s.maxLength || 0) >= 500;
        input = el(long ? "textarea" : "input", { ...attrs, type: long ? null : s.format === "date" ? "date" : "text", rows: long ? 3 : null,
          required: isReq, pattern: s.pattern ? s.pattern.replace(/^\^|\$$/g, "") : null, maxlength: s.maxLength, minlength: s.minLength,
          spellcheck: s.pattern ? "false" : null, autocomplete: "off" });
        input.value = v ?? "";
      }
      box.append(el("p", { class: "field" }, el("label", { for: id }, ...labelOf("fields", name, s.title), isReq ? " *" : ""), el("br"), input, help ? el("br") : null, help));
      inputs.push({ ptr: p, input, schema: s, req: req && required, group, list: s.type === "array" });
    }
    return inputs;
  }
  function readValue(item) {
    const raw = item.input.value.trim();
    if (raw === "") return undefined;
    if (item.input.tagName === "SELECT") return JSON.parse(raw);
    if (item.list) return raw.split("\n").map((x) => x.trim()).filter(Boolean);
    if (item.schema.type === "integer") return Number(raw);
    return raw;
  }
  const setPath = (obj, ptr, value) => {
    const parts = ptr.split("/").slice(1);
    let o = obj;
    parts.slice(0, -1).forEach((k) => { o = o[k] = o[k] || {}; });
    o[parts[parts.length - 1]] = value;
  };
  // a USCC field (…/uscc, …_uscc) whose 18th character is not its check character (uscc.js, GB 32100-2015)
  function usccMistyped(item, v) {
    if (!/(^|\/|_)uscc$/.test(item.ptr) || typeof v !== "string" || v.length !== 18) return null;
    const want = globalThis.usccCheckChar ? globalThis.usccCheckChar(v.slice(0, 17)) : null;
    return want && want !== v[17] ? `校验码应为 ${want}，而非 ${v[17]} / the check character is ${want}, not ${v[17]}` : null;
  }
  // collects the inputs into an object, checking them first; shows every problem beside its field
  function collect(form, inputs) {
    clearErrors(form);
    const out = {}, filledGroups = new Set();
    inputs.forEach((i) => { if (i.group && readValue(i) !== undefined) filledGroups.add(i.group); });
    let first = null;
    for (const i of inputs) {
      const v = readValue(i);
      const needed = i.req && (!i.group || filledGroups.has(i.group));
      const bad = v === undefined ? (needed ? "必填 / required" : null)
        : i.input.validity.patternMismatch ? `格式不符 / does not match ${i.schema.pattern}`
          : i.input.validity.tooLong || i.input.validity.tooShort ? "长度不符 / wrong length"
            : i.schema.type === "integer" && !Number.isInteger(v) ? "应为整数 / a whole number"
              : usccMistyped(i, v);
      if (bad) { const t = fieldError(form, "/payload" + i.ptr, bad); first = first || t; continue; }
      if (v !== undefined) setPath(out, i.ptr, v);
    }
    if (first) { first.focus(); form.querySelector(".form-error").replaceChildren(el("p", { class: "notice error", role: "alert" }, ...bi("请更正标出的字段", "Please correct the fields marked"))); return null; }
    return out;
  }

  // ---- prepare (draft) → confirm in plain words → sign → submit → receipt → checkpoint --------------------
  let pending = null; // {statement, form}
  function words(st) {
    const dl = el("dl", { class: "fields" });
    const add = (k, ...v) => dl.append(el("dt", {}, ...k), el("dd", {}, ...v));
    add(bi("步骤", "Step"), ...labelOf("steps", st.kind), " ", el("code", { class: "muted", text: st.kind }));
    add(bi(st.kind.startsWith("key.") ? "密钥编号" : "登记编号", st.kind.startsWith("key.") ? "Key id" : "Registration id"), el("code", { class: "wrap", text: st.subject }));
    const walk = (obj, prefix) => {
      for (const [k, v] of Object.entries(obj)) {
        if (v && typeof v === "object" && !Array.isArray(v)) { walk(v, [...prefix, k]); continue; }
        const label = [...prefix, k].map((x) => (L.fields[x] ? `${L.fields[x][0]} ${L.fields[x][1]}` : x)).join(" › ");
        const text = v === true ? "是 / yes" : v === false ? "否 / no" : Array.isArray(v) ? v.join("；") : String(v);
        add([label], text);
      }
    };
    walk(st.payload, []);
    add(bi("签名密钥", "Signed by"), `${me.name} (${me.keyId})`);
    add(bi("声明时间", "Statement time"), st.time);
    return dl;
  }
  async function prepare(form, kind, subject, payload) {
    clearErrors(form);
    form.querySelector(".form-error").replaceChildren();
    const r = await call("POST", "/v1/drafts", JSON.stringify({ kind, subject, payload, key: me.keyId }));
    if (!r.ok) { showProblem(form, r.data, r.status); return; }
    pending = { statement: r.data.statement, form };
    const warn = (r.data.warnings || []).map((w) => el("li", { text: w }));
    $("confirm-words").replaceChildren(el("p", {}, ...bi("您将签署以下声明：", "You are about to sign this statement:")), words(r.data.statement),
      warn.length ? el("ul", { class: "small muted" }, warn) : "");
    $("confirm-json").textContent = JSON.stringify(r.data.statement, null, 1);
    show("confirm"); show("result", false);
    $("confirm").focus();
  }
  async function signAndSubmit() {
    if (!pending) return;
    const { statement, form } = pending;
    pending = null;
    show("confirm", false);
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, me.privateKey, enc.encode(canon(statement)));
    const body = canon({ ...statement, sig: b64(new Uint8Array(sig)) });
    const r = await call("POST", "/v1/statements", body);
    if (!r.ok) { showProblem(form, r.data, r.status); form.scrollIntoView(); return; }
    receipt(r.data, statement);
    form.reset && form.reset();
    if (me.record) renderWork();
  }
  function receipt(res, st) {
    const dl = el("dl", { class: "fields" });
    const add = (k, v) => dl.append(el("dt", {}, ...k), el("dd", {}, v));
    add(bi("步骤", "Step"), el("span", {}, ...labelOf("steps", st.kind)));
    add(bi("日志序号", "Log index"), el("code", { id: "result-index", text: String(res.index) }));
    add(bi("写入时间", "Sequenced at"), res.time);
    add(bi("条目哈希", "Leaf hash"), el("code", { class: "wrap", text: res.leaf_hash }));
    if (res.state) add(bi("登记状态", "Registration status"), el("span", { id: "result-status", text: res.state.status }));
    if (res.state && res.state.query_code) add(bi("查询码", "Query code"), el("code", { text: res.state.query_code }));
    const inclusion = el("p", { id: "result-inclusion", class: "notice", "data-state": "waiting" }, ...bi("等待纳入签名检查点……", "Waiting for a signed checkpoint to include it…"));
    $("result-body").replaceChildren(el("p", { class: "notice ok" }, ...bi("已受理并写入日志，回执如下。", "Accepted and sequenced; the receipt:")), dl,
      el("details", {}, el("summary", {}, ...bi("日志签名的回执", "The log's signed receipt")), el("pre", { class: "note", id: "result-receipt", text: res.receipt })),
      inclusion);
    show("result");
    $("result").focus();
    waitForCheckpoint(res.index, inclusion);
  }
  async function waitForCheckpoint(index, box) {
    for (let i = 0; i < 120; i++) {
      const r = await fetch("/log/checkpoint");
      if (r.ok) {
        const note = await r.text();
        const size = Number(note.split("\n")[1]);
        if (size > index) {
          box.dataset.state = "included";
          box.replaceChildren(...bi(`已纳入签名检查点（树大小 ${size}）`, `Included in a signed checkpoint (tree size ${size})`), el("pre", { class: "note", text: note }));
          return;
        }
      }
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }

  // ---- the key ------------------------------------------------------------------------------------------------
  async function useKey(k) {
    me = { ...k, keyId: await keyIdOf(k.pub), vkey: await vkeyOf(k.name, k.pub), record: null };
    $("key-name").textContent = me.name;
    $("key-id").textContent = me.keyId;
    $("key-vkey").textContent = me.vkey;
    $("key-register-command").textContent = `regledger key register --vkey ${me.vkey} --role registrar|registrant|authority|admin [--region CODE | --institution USCC]`;
    show("key-none", false); show("key-have");
    await checkKey();
  }
  async function checkKey() {
    const r = await call("GET", "/v1/keys/" + me.keyId);
    const status = $("key-status");
    me.record = null;
    status.dataset.state = r.status === 404 ? "unregistered" : !r.ok ? "unknown" : r.data.revoked_at !== null ? "revoked" : "registered";
    if (r.status === 404) status.replaceChildren(el("strong", {}, ...bi("尚未登记：请将上面的公钥交管理员登记，然后点“重新检查”。", "Not registered yet: give the public key above to an administrator, then press Check again.")));
    else if (!r.ok) status.replaceChildren(...bi("无法读取密钥状态", "Cannot read the key's status"), ` (${r.status})`);
    else if (r.data.revoked_at !== null) status.replaceChildren(el("strong", {}, ...bi(`已吊销（日志序号 ${r.data.revoked_at}）`, `Revoked (log index ${r.data.revoked_at})`)));
    else {
      me.record = r.data;
      const scope = Object.entries(r.data.scope).map(([k, v]) => `${k}: ${v}`).join(", ");
      status.replaceChildren(el("span", { id: "key-role", "data-role": r.data.role }, ...labelOf("roles", r.data.role)), scope ? ` — ${scope}` : "",
        " · ", ...bi(`登记于日志序号 ${r.data.registered_at}`, `registered at log index ${r.data.registered_at}`));
    }
    $("key-register-hint").hidden = !!me.record;
    await renderWork();
  }

  // ---- the work of each role ----------------------------------------------------------------------------------
  const TASKS = {
    accept: ["待受理", "To accept"], review: ["形式审核中", "In formal review"], publicity: ["公示中", "In publicity"],
    decide: ["待处理异议", "Objections to decide"], code: ["待赋码", "To code"],
  };
  //: inputs a step needs beyond what the draft fills in: [member, kind of input, required]
  const STEP_INPUTS = {
    "registration.refuse": [["reason", "text"]], "registration.reject": [["reason", "text"]], "registration.supplement": [["items", "lines"]],
    "registration.decide": [["upheld", "bool"], ["reason", "text"]], "registration.revoke": [["reason", "text"]], "registration.cancel": [["reason", "text"]],
  };
  //: what each step's button says (a verb; the history's names in L.steps say what happened)
  const ACTIONS = {
    "registration.accept": ["受理", "Accept"], "registration.supplement": ["一次性告知补正", "Request supplements"],
    "registration.refuse": ["不予受理", "Refuse"], "registration.publish": ["通过并公示", "Pass and publish"],
    "registration.reject": ["审核不通过", "Reject"], "registration.decide": ["处理异议", "Decide objection"],
    "registration.code": ["赋码", "Code"], "registration.revoke": ["撤销", "Revoke"], "registration.cancel": ["注销", "Cancel"],
    "registration.change": ["变更", "Change"], "registration.correction": ["更正", "Correct"], "registration.resubmit": ["补正后重新提交", "Resubmit"],
  };
  const actionLabel = (kind, suffix = "") => `${ACTIONS[kind][0]}${suffix} / ${ACTIONS[kind][1]}${suffix}`;
  const regLink = (id, name) => el("a", { href: "/registrations/" + encodeURIComponent(id) }, name || id);
  // a step that needs a few inputs (a reason, the items to supplement, a decision); `subjectInput`: the
  // registration id is typed in (a revocation) instead of given
  function stepForm(kind, subject, fixed, title, subjectInput = null) {
    const form = el("form", { class: "stack step-form", novalidate: true, "data-kind": kind });
    if (subjectInput) form.append(el("p", { class: "field" }, el("label", { for: subjectInput.id }, ...bi("登记编号", "Registration id")), el("br"), subjectInput));
    const inputs = (STEP_INPUTS[kind] || []).map(([name, type]) => {
      const id = `step-${subject}-${kind.split(".")[1]}${fixed.objection ?? ""}-${name}`.replace(/[^A-Za-z0-9_-]/g, "-");
      const attrs = { id, name, "data-pointer": "/payload/" + name, required: true };
      const input = type === "bool"
        ? el("select", attrs, el("option", { value: "", text: "请选择 / choose" }), el("option", { value: "true", text: "异议成立 / upheld" }), el("option", { value: "false", text: "异议不成立 / dismissed" }))
        : el("textarea", { ...attrs, rows: 2 });
      form.append(el("p", { class: "field" }, el("label", { for: id }, ...labelOf("fields", name)), el("br"), input));
      return [name, type, input];
    });
    form.append(el("div", { class: "form-error" }), el("button", { type: "submit" }, title));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const payload = { ...fixed };
      const target = subjectInput ? subjectInput.value.trim() : subject;
      if (!target) { fieldError(form, "/subject", "必填 / required").focus(); return; }
      for (const [name, type, input] of inputs) {
        const v = input.value.trim();
        if (!v) { fieldError(form, "/payload/" + name, "必填 / required").focus(); return; }
        payload[name] = type === "bool" ? v === "true" : type === "lines" ? v.split("\n").map((x) => x.trim()).filter(Boolean) : v;
      }
      prepare(form, kind, target, payload);
    });
    return form;
  }
  async function renderWork() {
    const rec = me && me.record;
    show("work", !!rec);
    if (!rec) return;
    const body = $("work-body");
    const role = rec.role;
    $("work-heading").replaceChildren(...bi({ registrar: "登记机构待办", registrant: "登记主体办理", authority: "撤销登记", admin: "密钥管理" }[role] || "工作",
      { registrar: "Registrar's work", registrant: "Registrant's work", authority: "Revocation", admin: "Key management" }[role] || "Work"));
    if (role === "registrar") return registrarWork(body, rec);
    if (role === "registrant") return registrantWork(body, rec);
    if (role === "authority") return body.replaceChildren(freeStep("registration.revoke", "撤销", "Revoke"));
    if (role === "admin") return body.replaceChildren(adminWork());
    body.replaceChildren(el("p", {}, ...bi("此角色在工作台上没有可办事项。", "This role has no work on the desk.")));
  }
  async function registrarWork(body, rec) {
    const r = await call("GET", "/v1/work/registrar?region=" + encodeURIComponent(rec.scope.region));
    if (!r.ok) { message(body, "error", `HTTP ${r.status}`); return; }
    const items = r.data.items;
    const rows = items.map((it) => {
      const actions = el("div", { class: "actions" });
      const add = (kind, fixed = {}, suffix = "") => {
        const label = actionLabel(kind, suffix);
        if (STEP_INPUTS[kind]) actions.append(el("details", {}, el("summary", {}, label), stepForm(kind, it.registration, fixed, label)));
        else { const f = el("form", { class: "inline" }, el("div", { class: "form-error" }), el("button", { type: "submit", "data-step": kind, "data-registration": it.registration }, label));
          f.addEventListener("submit", (ev) => { ev.preventDefault(); prepare(f, kind, it.registration, fixed); }); actions.append(f); }
      };
      if (it.task === "accept") { add("registration.accept"); add("registration.supplement"); add("registration.refuse"); }
      if (it.task === "review") { add("registration.publish"); add("registration.reject"); }
      if (it.task === "decide") for (const o of it.objections) {
        actions.append(el("p", { class: "small" }, ...bi(`异议 #${o.index}`, `objection #${o.index}`), " · ", o.time, o.document_sha256 ? el("br") : "", o.document_sha256 ? el("code", { class: "wrap muted", text: "SHA-256 " + o.document_sha256 }) : ""));
        if (o.document_sha256) actions.append(objectionDocument(it.registration, o.index));
        add("registration.decide", { objection: o.index }, ` #${o.index}`);
      }
      if (it.task === "code") add("registration.code");
      const due = it.due ? [it.due, it.overdue ? el("strong", { class: "overdue" }, " ", ...bi(`逾期 ${it.days_late} 天`, `${it.days_late} days overdue`)) : ""] : ["—"];
      return el("tr", { "data-registration": it.registration, "data-task": it.task, class: it.overdue ? "overdue" : null },
        el("td", {}, regLink(it.registration, it.name), el("br"), el("code", { class: "muted", text: it.registration })),
        el("td", {}, ...bi(...(TASKS[it.task] || [it.task, it.task]))),
        el("td", {}, ...due), el("td", {}, actions));
    });
    body.replaceChildren(
      el("p", {}, ...bi(`服务区域 ${rec.scope.region}，日期 ${r.data.on}（逾期事项排在最前）`, `Region ${rec.scope.region}, on ${r.data.on} (overdue first)`)),
      rows.length ? el("table", { class: "work" }, el("thead", {}, el("tr", {}, ["登记 Registration", "事项 Task", "期限 Due", "办理 Act"].map((h) => el("th", { text: h })))), el("tbody", {}, rows))
        : el("p", { class: "muted" }, ...bi("暂无待办事项。", "Nothing to do.")));
  }
  // ---- a lodged objection's document: read with a signed read.objection request, never sequenced ---------------
  async function readObjection(registration, index) {
    const st = { kind: "read.objection", subject: registration, payload: { objection: index }, time: new Date().toISOString(),
      key: me.keyId, nonce: hex(crypto.getRandomValues(new Uint8Array(16))) };
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, me.privateKey, enc.encode(canon(st)));
    return call("POST", `/v1/registrations/${encodeURIComponent(registration)}/objections/${index}/document`, canon({ ...st, sig: b64(new Uint8Array(sig)) }));
  }
  function objectionDocument(registration, index) {
    const box = el("div", { class: "objection-document", "data-objection": String(index), "aria-live": "polite" },
      el("p", { class: "small muted" }, ...bi("正在读取异议材料……", "Reading the objection…")));
    readObjection(registration, index).then((r) => {
      if (!r.ok) {
        box.dataset.state = "refused";
        return message(box, "error", ...bi("异议材料未显示：", "The objection is not shown: "), (r.data && r.data.detail) || `HTTP ${r.status}`);
      }
      const d = r.data.document;
      const dl = el("dl", { class: "fields small" });
      const add = (k, v) => dl.append(el("dt", {}, ...k), el("dd", {}, v));
      add(bi("联系方式", "Contact"), el("span", { class: "objection-contact", text: d.contact || "—" }));
      if (d.attachment_sha256) add(bi("附件哈希", "Attachment SHA-256"), el("code", { class: "wrap", text: d.attachment_sha256 }));
      add(bi("收到时间", "Received at"), d.received_at);
      box.dataset.state = "matches";
      box.replaceChildren(el("p", { class: "notice ok small" }, ...bi("材料与日志一致", r.data.check)),
        el("blockquote", { class: "objection-text", lang: "zh-CN", text: d.text }), dl);
    });
    return box;
  }
  function freeStep(kind, zh, en) {
    const subject = el("input", { id: "free-" + kind.split(".")[1] + "-subject", required: true, "data-pointer": "/subject", autocomplete: "off", spellcheck: "false" });
    return el("div", {}, el("h3", {}, ...bi(zh, en)), stepForm(kind, "", {}, actionLabel(kind), subject));
  }

  async function schemas() {
    if (!defs) { const r = await call("GET", "/v1/schemas"); defs = r.data.$defs; kinds = r.data.kinds; }
  }
  // the application (or change, correction, resubmission) form for one subject kind
  async function applicationForm(box, kind, subjectKind, subject, current) {
    await schemas();
    const modelName = unwrap(kinds["registration.apply"].properties.payload.allOf.find((c) => c.if.properties.subject_kind.const === subjectKind).then.properties.fields)[0];
    const form = el("form", { class: "stack application", novalidate: true, id: "application-form" });
    const inputs = [];
    let idInput = null;
    if (kind === "registration.apply") {
      idInput = el("input", { id: "application-id", required: true, pattern: "[\\w.\\-]{1,100}", "data-pointer": "/subject", autocomplete: "off", spellcheck: "false", "aria-describedby": "application-id-help", "data-help": "application-id-help" });
      form.append(el("p", { class: "field" }, el("label", { for: "application-id" }, ...bi("登记编号（由您自定，字母、数字、-、_、.）", "Registration id (you choose it: letters, digits, -, _, .)"), " *"), el("br"), idInput,
        el("br"), el("span", { class: "help small muted", id: "application-id-help", text: "不能以 PDR- 开头 / not starting with PDR-" })));
    } else {
      form.append(el("p", {}, ...bi("登记编号：", "Registration: "), el("code", { text: subject })));
    }
    if (kind !== "registration.apply" && kind !== "registration.resubmit") {
      const id = "application-reason";
      form.append(el("p", { class: "field" }, el("label", { for: id }, ...labelOf("fields", "reason"), " *"), el("br"), el("textarea", { id, rows: 2, "data-pointer": "/payload/reason", required: true })));
    }
    const fs = el("fieldset", { "data-pointer": "/payload/fields", id: "ffields", tabindex: "-1" }, el("legend", {}, ...labelOf("kinds", subjectKind)));
    form.append(fs);
    buildObject(fs, modelName, "/fields", true, current, inputs, null);
    form.append(el("div", { class: "form-error" }), el("button", { type: "submit" }, `${L.steps[kind][0]}：准备并核对 / ${L.steps[kind][1]}: prepare and check`));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const payload = collect(form, inputs);
      if (!payload) return;
      let id = subject;
      if (idInput) {
        id = idInput.value.trim();
        if (!id || idInput.validity.patternMismatch) { fieldError(form, "/subject", "必填，格式见说明 / required, see the format").focus(); return; }
      }
      const reason = form.querySelector("#application-reason");
      if (reason) { if (!reason.value.trim()) { fieldError(form, "/payload/reason", "必填 / required").focus(); return; } payload.reason = reason.value.trim(); }
      if (kind === "registration.apply") payload.subject_kind = subjectKind;
      prepare(form, kind, id, payload);
    });
    box.replaceChildren(form);
  }
  async function registrantWork(body, rec) {
    const kindSelect = el("select", { id: "application-kind" }, ["resource", "product", "institution"].map((k) => el("option", { value: k, text: `${L.kinds[k][0]} / ${L.kinds[k][1]}` })));
    const formBox = el("div", { id: "application-box" });
    kindSelect.addEventListener("change", () => applicationForm(formBox, "registration.apply", kindSelect.value, "", null));
    const mine = el("div", { id: "my-registrations" });
    body.replaceChildren(
      el("h3", {}, ...bi("新的登记申请", "A new application")),
      el("p", { class: "field" }, el("label", { for: "application-kind" }, ...bi("登记对象类型", "Subject kind")), el("br"), kindSelect), formBox,
      el("h3", {}, ...bi("本机构的登记", "The institution's registrations")), mine);
    await applicationForm(formBox, "registration.apply", kindSelect.value, "", null);
    const r = await call("GET", "/v1/registrations?limit=200&institution=" + encodeURIComponent(rec.scope.institution || ""));
    const items = (r.ok && r.data.items) || [];
    if (!items.length) { mine.replaceChildren(el("p", { class: "muted" }, ...bi("尚无登记。", "None yet."))); return; }
    const steps = { SUPPLEMENT_REQUIRED: ["registration.resubmit"], CODED: ["registration.change", "registration.correction", "registration.cancel"] };
    mine.replaceChildren(el("table", { class: "work" }, el("thead", {}, el("tr", {}, ["登记 Registration", "状态 Status", "办理 Act"].map((h) => el("th", { text: h })))),
      el("tbody", {}, items.map((it) => {
        const actions = el("div", { class: "actions" });
        for (const kind of steps[it.status] || []) {
          if (kind === "registration.cancel") { actions.append(el("details", {}, el("summary", {}, actionLabel(kind)), stepForm(kind, it.registration, {}, actionLabel(kind)))); continue; }
          actions.append(el("button", { type: "button", onclick: async () => {
            const st = await call("GET", "/v1/registrations/" + encodeURIComponent(it.registration));
            await applicationForm(formBox, kind, st.data.subject_kind || it.kind, it.registration, st.data.fields);
            formBox.scrollIntoView(); formBox.querySelector("input, textarea, select").focus();
          } }, actionLabel(kind)));
        }
        const s = L.status[it.status] || [it.status, it.status];
        return el("tr", { "data-registration": it.registration }, el("td", {}, regLink(it.registration, it.name)), el("td", {}, ...bi(s[0], s[1])), el("td", {}, actions));
      }))));
  }
  function adminWork() {
    const form = el("form", { class: "stack", novalidate: true, id: "register-key-form" });
    const field = (id, name, input) => form.append(el("p", { class: "field" }, el("label", { for: id }, ...labelOf("fields", name)), el("br"), input));
    const vkey = el("input", { id: "register-vkey", required: true, "data-pointer": "/payload/public_key", spellcheck: "false", autocomplete: "off" });
    const role = el("select", { id: "register-role", "data-pointer": "/payload/role" }, Object.entries(L.roles).map(([k, v]) => el("option", { value: k, text: `${v[0]} / ${v[1]}` })));
    const region = el("input", { id: "register-region", pattern: "[0-9]{6}", "data-pointer": "/payload/scope/region", inputmode: "numeric" });
    const inst = el("input", { id: "register-institution", "data-pointer": "/payload/scope/institution", spellcheck: "false" });
    field("register-vkey", "public_key", vkey); field("register-role", "role", role); field("register-region", "region", region); field("register-institution", "institution", inst);
    form.append(el("div", { class: "form-error" }), el("button", { type: "submit" }, "登记密钥 / Register the key"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      let k;
      try { k = await parseVkey(vkey.value); } catch (e) { fieldError(form, "/payload/public_key", e.message).focus(); return; }
      const scope = {};
      if (region.value.trim()) scope.region = region.value.trim();
      if (inst.value.trim()) scope.institution = inst.value.trim();
      prepare(form, "key.register", await keyIdOf(k.pub), { public_key: b64(k.pub), name: k.name, role: role.value, scope });
    });
    const subject = el("input", { id: "revoke-key-id", required: true, "data-pointer": "/subject", spellcheck: "false" });
    const reason = el("textarea", { id: "revoke-key-reason", rows: 2, "data-pointer": "/payload/reason" });
    const rform = el("form", { class: "stack", novalidate: true, id: "revoke-key-form" },
      el("p", { class: "field" }, el("label", { for: "revoke-key-id" }, ...bi("密钥编号或名称", "Key id or name")), el("br"), subject),
      el("p", { class: "field" }, el("label", { for: "revoke-key-reason" }, ...labelOf("fields", "reason")), el("br"), reason),
      el("div", { class: "form-error" }), el("button", { type: "submit" }, "吊销密钥 / Revoke the key"));
    rform.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(rform);
      const k = await call("GET", "/v1/keys/" + encodeURIComponent(subject.value.trim()));
      if (!k.ok) { fieldError(rform, "/subject", "没有这个密钥 / no such key").focus(); return; }
      prepare(rform, "key.revoke", k.data.key_id, { reason: reason.value.trim() });
    });
    return el("div", {}, el("h3", {}, ...bi("登记密钥", "Register a key")), form, el("h3", {}, ...bi("吊销密钥", "Revoke a key")), rform);
  }

  // ---- wiring -------------------------------------------------------------------------------------------------
  $("create-key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("create-key-name").value.trim();
    const box = $("key-message");
    if (!/^[^\s+]{1,128}$/.test(name)) { message(box, "error", ...bi("名称为 1–128 个字符，不含空格和“+”", "A name is 1-128 characters without spaces or '+'")); $("create-key-name").focus(); return; }
    try {
      const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      const pub = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
      await saveKey({ name, pub, privateKey: kp.privateKey });
      message(box, "ok", ...bi("已在本浏览器中生成密钥（私钥不可导出）。", "Key created in this browser (the private key cannot be exported)."));
      await useKey({ name, pub, privateKey: kp.privateKey });
    } catch (e) { message(box, "error", ...bi("本浏览器不支持 Ed25519 密钥：", "This browser cannot make Ed25519 keys: "), String(e)); }
  });
  $("import-key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = $("key-message");
    try {
      const file = $("import-key-file").files[0];
      if (!file) throw new Error("请选择密钥文件 / choose the key file");
      const { name, pub } = await parseVkey($("import-key-vkey").value);
      const privateKey = await importKeyFile(await file.text(), $("import-key-passphrase").value, pub);
      await saveKey({ name, pub, privateKey });
      $("import-key-passphrase").value = "";
      message(box, "ok", ...bi("已导入密钥（私钥在本浏览器中不可导出）。", "Key imported (the private key cannot be exported from this browser)."));
      await useKey({ name, pub, privateKey });
    } catch (e) { message(box, "error", ...bi("未能导入：", "Not imported: "), e.message || String(e)); }
  });
  $("key-refresh").addEventListener("click", checkKey);
  $("key-forget").addEventListener("click", async () => { await forgetKey(); me = null; show("key-have", false); show("work", false); show("key-none"); });
  $("confirm-sign").addEventListener("click", signAndSubmit);
  $("confirm-cancel").addEventListener("click", () => { pending = null; show("confirm", false); });
  loadKey().then((k) => (k ? useKey(k) : show("key-none"))).catch(() => show("key-none"));
})();
