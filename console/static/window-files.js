// The window's file inputs: each chosen file is checked before the form is sent (its size and
// its first bytes, as the server reads them: PDF, JPEG, PNG or OFD), so a clerk learns at once
// that a scan is wrong. The server's check is the one that counts; this only saves a round trip.
"use strict";

(() => {
  const MB = 1024 * 1024;

  function startsWith(bytes, magic) {
    return magic.every((b, i) => bytes[i] === b);
  }

  // What `regions/material_files.py` media_type_of accepts.
  function kindOf(bytes) {
    if (startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d])) return "PDF";
    if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "JPEG";
    if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "PNG";
    if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) && bytes.length >= 30) {
      const length = bytes[26] | (bytes[27] << 8);
      const name = String.fromCharCode(...bytes.slice(30, 30 + length));
      if (name === "OFD.xml") return "OFD";
    }
    return null;
  }

  function say(input, text, ok) {
    const id = (input.getAttribute("aria-describedby") || "").split(" ")[0];
    const out = id ? document.getElementById(id) : null;
    input.setCustomValidity(ok ? "" : text);
    input.setAttribute("aria-invalid", ok ? "false" : "true");
    if (out) {
      out.textContent = text;
      out.className = "file-check " + (ok ? "ok" : "bad");
    }
  }

  async function check(input) {
    const file = input.files && input.files[0];
    if (!file) {
      say(input, "", true);
      return;
    }
    const max = Number(input.dataset.maxBytes || 0);
    if (file.size === 0) {
      say(input, "文件是空的（0 字节），请重新选择。", false);
      return;
    }
    if (max && file.size > max) {
      say(input, `文件 ${(file.size / MB).toFixed(1)} MB，超过上限 ${Math.floor(max / MB)} MB。`, false);
      return;
    }
    const head = new Uint8Array(await file.slice(0, 64).arrayBuffer());
    const kind = kindOf(head);
    if (kind === null) {
      say(input, "不是 PDF、JPEG、PNG 或 OFD 文件（按内容判断），请重新扫描或选择。", false);
      return;
    }
    const size = file.size < 1024 ? `${file.size} 字节` : `${(file.size / 1024).toFixed(0)} KB`;
    say(input, `${kind}，${size}`, true);
  }

  function total(form) {
    let sum = 0;
    for (const input of form.querySelectorAll("input[type=file]")) {
      for (const file of input.files || []) sum += file.size;
    }
    return sum;
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form[data-window-files]")) {
      const inputs = form.querySelectorAll("input[type=file][data-max-bytes]");
      for (const input of inputs) {
        input.addEventListener("change", () => { check(input); });
      }
      form.addEventListener("submit", (event) => {
        const max = Number(form.dataset.maxCaseBytes || 0);
        if (max && total(form) > max) {
          event.preventDefault();
          event.stopImmediatePropagation();
          const last = inputs[inputs.length - 1];
          if (last) say(last, `文件合计超过 ${Math.floor(max / MB)} MB，请减少或压缩扫描件。`, false);
        }
      }, true);
    }
  });
})();
