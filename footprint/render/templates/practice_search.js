{# Practice search shared by each map's finder and the England index, included inside their functions. Entries are
   {code, name, postcode, town}, town being "place, town" (either matches whole). A search is: an ODS code or a whole
   postcode; else a town's name, whole; else every word typed, in any order, is the start of a word of the practice's
   name, town, ODS code or postcode (abbreviations such as Med., Pract., Ctr and Surg. read as the words, apostrophes
   ignored, a postcode district matched from its start: B25 finds B25 8AA, not UB2 5.. or CB25 ..). Practices
   matched on their name come first. #}
  var FP_WORDS = {MED: "MEDICAL", PRACT: "PRACTICE", PRAC: "PRACTICE", PRACTICES: "PRACTICE", CTR: "CENTRE",
    CTRE: "CENTRE", CNTR: "CENTRE", CENTER: "CENTRE", SURG: "SURGERY", HLTH: "HEALTH", HTH: "HEALTH",
    GRP: "GROUP", RD: "ROAD", SAINT: "ST", PTNR: "PARTNERS", PTNRS: "PARTNERS", PSHIP: "PARTNERSHIP",
    DRS: "DR", DOCTOR: "DR", DOCTORS: "DR"};
  var FP_SKIP = {AND: 1, THE: 1, OF: 1};
  function norm(text) { return (text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""); }
  function words(text) {
    return (text || "").toUpperCase().replace(/['\u2018\u2019`]/g, "").split(/[^A-Z0-9]+/)
      .filter(function (w) { return w; });
  }
  function prepare(e) {
    if (e.keys) { return; }
    e.keys = words(e.name).map(function (w) { return FP_WORDS[w] || w; });
    e.places = words(e.town);
    e.towns = (e.town || "").split(",").map(norm);
    var postcode = (e.postcode || "").toUpperCase().trim().split(/\s+/);
    e.outward = postcode[0] || "";
    e.inward = postcode[1] || "";
    e.id = norm(e.code);
    e.pc = norm(e.postcode);
  }
  function starts(list, word) {
    for (var i = 0; i < list.length; i++) { if (list[i].indexOf(word) === 0) { return true; } }
    return false;
  }
  function inName(e, w) { return starts(e.keys, w) || (FP_WORDS[w] !== undefined && starts(e.keys, FP_WORDS[w])); }
  function inPostcode(e, w) {
    if (!e.outward) { return false; }
    if (e.outward.indexOf(w) === 0 || (/^[0-9]/.test(w) && e.inward.indexOf(w) === 0)) { return true; }
    for (var k = 2; k <= 4 && w.length >= 5 && k < w.length; k++) {  // a postcode without its space: "B258AA"
      if (w.slice(0, k) === e.outward && /^[0-9][A-Z]{0,2}$/.test(w.slice(k)) && e.inward.indexOf(w.slice(k)) === 0) {
        return true;
      }
    }
    return false;
  }
  function search(entries, text) {
    var q = norm(text);
    if (!q) { return []; }
    entries.forEach(prepare);
    var exact = entries.filter(function (e) { return e.id === q || e.pc === q; });
    if (exact.length) { return exact; }
    var town = entries.filter(function (e) { return e.towns.indexOf(q) >= 0; });
    if (town.length) { return town; }
    var typed = words(text), ws = typed.filter(function (w) { return !FP_SKIP[w]; });
    if (!ws.length) { ws = typed; }
    // ranked: the name as typed (words whole, in order), then every word whole, then the name's words begun, then
    // matches on the town, code or postcode
    var ranks = [[], [], [], []], asTyped = ws.map(function (w) { return FP_WORDS[w] || w; }).join(" ");
    entries.forEach(function (e) {
      var byName = true, whole = true;
      for (var i = 0; i < ws.length; i++) {
        var w = ws[i];
        if (inName(e, w)) {
          if (e.keys.indexOf(w) < 0 && e.keys.indexOf(FP_WORDS[w]) < 0) { whole = false; }
          continue;
        }
        byName = false;
        if (!(starts(e.places, w) || e.id.indexOf(w) === 0 || inPostcode(e, w))) { return; }
      }
      var words = e.keys.filter(function (k) { return !FP_SKIP[k]; }).join(" ");
      ranks[!byName ? 3 : words === asTyped ? 0 : whole ? 1 : 2].push(e);
    });
    return ranks[0].concat(ranks[1], ranks[2], ranks[3]);
  }
  // Say in `status` how many matched (or that none did), and list up to `limit` of them in `box` as a `tag` list,
  // each made by `item(entry)`.
  function listMatches(status, box, found, text, limit, tag, item, where) {
    box.textContent = "";
    if (!found.length) {
      status.textContent = "No practice matches \u201c" + text + "\u201d.";
      return;
    }
    var shown = found.slice(0, limit);
    status.textContent = found.length + (found.length === 1 ? " practice matches" : " practices match") + (where || "") +
      (found.length > shown.length ? " (first " + shown.length + " listed)" : "") + "; choose one, or type more to narrow.";
    var list = document.createElement(tag);
    list.className = "fp-find-list";
    shown.forEach(function (e) { list.appendChild(item(e)); });
    box.appendChild(list);
  }
  // Run `fn` a moment after the last keystroke; the returned function cancels a run still to come (on Enter).
  function typing(input, fn) {
    var timer = null;
    function cancel() { if (timer !== null) { clearTimeout(timer); timer = null; } }
    input.addEventListener("input", function () {
      cancel();
      timer = setTimeout(function () { timer = null; fn(); }, 150);
    });
    return cancel;
  }
