{# Practice search shared by each map's finder and the England index, included inside their functions. Entries are {code, name, postcode, town}, town being "place, town" (either matches whole). #}
  function norm(text) { return (text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""); }
  function search(entries, text) {
    var q = norm(text);
    if (!q) { return []; }
    var exact = entries.filter(function (e) { return norm(e.code) === q || norm(e.postcode) === q; });
    if (exact.length) { return exact; }
    var town = entries.filter(function (e) { return e.town.split(",").map(norm).indexOf(q) >= 0; });
    if (town.length) { return town; }
    return entries.filter(function (e) {
      return (norm(e.name) + "|" + norm(e.code) + "|" + norm(e.postcode) + "|" + norm(e.town)).indexOf(q) >= 0;
    });
  }
  // Say that nothing matched, or list up to `limit` matches in a `tag` list, each made by `item(entry)`.
  function listMatches(result, found, text, limit, tag, item) {
    if (!found.length) {
      result.textContent = "No practice matches \u201c" + text + "\u201d.";
      return;
    }
    var shown = found.slice(0, limit);
    var prompt = document.createElement("p");
    prompt.textContent = found.length + " practices match" +
      (found.length > shown.length ? " (first " + shown.length + " listed)" : "") + "; choose one, or type more to narrow.";
    result.appendChild(prompt);
    var list = document.createElement(tag);
    list.className = "fp-find-list";
    shown.forEach(function (e) { list.appendChild(item(e)); });
    result.appendChild(list);
  }
