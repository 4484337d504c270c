/// The dashboard's stylesheet and its one small script (sorting tables by a column),
/// served by the daemon itself: pages load nothing from elsewhere, and the
/// Content-Security-Policy allows scripts and styles from the daemon only (no inline
/// script could run even if some text escaped escaping).
enum DashboardAssets {
    static let css = """
    body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
    header { background: #263238; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: center; }
    header a { color: #fff; } header form { margin-left: auto; } header .who { opacity: .8; }
    main { padding: 8px 16px 32px; max-width: 1200px; }
    h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
    table { border-collapse: collapse; margin: 8px 0; background: #fff; }
    caption { text-align: left; font-weight: 600; padding: 4px 0; }
    th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #eceff1; } table.sortable th { cursor: pointer; }
    tr.deployed { background: #e8f5e9; font-weight: 600; }
    td.empty, p.empty { color: #777; font-style: italic; }
    .bad { color: #b71c1c; font-weight: 600; } .ok { color: #1b5e20; }
    figure { margin: 8px 0; } figcaption { font-size: 12px; color: #555; }
    svg.chart { background: #fff; border: 1px solid #ddd; }
    svg .axis { stroke: #555; } svg .tick, svg .legend { font-size: 11px; }
    svg .baseline { stroke: #2e7d32; stroke-dasharray: 6 3; stroke-width: 1.5; }
    svg .threshold { stroke: #c62828; stroke-dasharray: 3 3; stroke-width: 1.5; }
    svg .bar { fill: #1f77b4; } svg .bar.over { fill: #c62828; }
    svg.spark { vertical-align: middle; }
    .message { padding: 8px; background: #fff3e0; border: 1px solid #ffb74d; }
    form.inline { display: inline; } button { cursor: pointer; }
    code { background: #eee; padding: 0 3px; }
    """

    static let script = """
    // Sorts a table.sortable by the clicked column: numbers as numbers, the rest as text.
    document.querySelectorAll('table.sortable').forEach(function (table) {
      table.querySelectorAll('th').forEach(function (th, column) {
        th.addEventListener('click', function () {
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var ascending = th.getAttribute('aria-sort') !== 'ascending';
          table.querySelectorAll('th').forEach(function (other) { other.removeAttribute('aria-sort'); });
          th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
          rows.sort(function (a, b) {
            var x = a.cells[column].textContent.trim(), y = b.cells[column].textContent.trim();
            var nx = parseFloat(x), ny = parseFloat(y);
            var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
            return ascending ? order : -order;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
    """
}
