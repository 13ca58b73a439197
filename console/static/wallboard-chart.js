/* The wallboard's service-level chart (wallboard.js draws one per queue tile): a small
 * inline SVG, no library. x: the queue's day, bucket by bucket; y: 0-100 % service level;
 * a dashed line at the target; the line breaks over buckets with no call. Each point has
 * a <title> (bucket start, SL, answered within / offered) for a hover tooltip.
 *
 * Input: one queue of GET /api/acd/service-level, {buckets: [{start, offered,
 * answered_within, service_level}], target, service_level_seconds}.
 */
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const W = 240;
  const H = 64;
  const PAD = 4;

  function svgNode(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function localTime(iso) {
    // The bucket's start in the viewer's own zone (static/format.js), "9:30 AM"
    return window.Fmt ? window.Fmt.time(iso) : iso.slice(11, 16);
  }

  function render(day) {
    const buckets = day.buckets || [];
    const n = Math.max(1, buckets.length);
    const x = (i) => PAD + ((W - 2 * PAD) * (i + 0.5)) / n;
    const y = (ratio) => PAD + (H - 2 * PAD) * (1 - ratio);
    const svg = svgNode("svg", {
      class: "wb-sl-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
      "aria-label": `Service level by ${buckets.length} periods today, target ${Math.round(day.target * 100)} %`,
    });
    svg.append(svgNode("rect", { x: 0, y: 0, width: W, height: H, class: "frame" }));
    svg.append(svgNode("line", {
      x1: PAD, x2: W - PAD, y1: y(day.target), y2: y(day.target), class: "target",
    }));
    let path = "";
    let open = false;
    let points = 0;
    const dots = [];
    buckets.forEach((b, i) => {
      if (b.service_level === null || b.service_level === undefined) {
        open = false;
        return;
      }
      path += `${open ? "L" : "M"}${x(i).toFixed(1)},${y(b.service_level).toFixed(1)} `;
      open = true;
      points++;
      const dot = svgNode("circle", {
        cx: x(i).toFixed(1), cy: y(b.service_level).toFixed(1), r: 1.8,
        class: b.service_level < day.target ? "point below" : "point",
      });
      dot.append(svgNode("title", {}, `${localTime(b.start)}: ${Math.round(b.service_level * 100)} % `
        + `(${b.answered_within} of ${b.offered} answered within ${day.service_level_seconds} seconds)`));
      dots.push(dot);
    });
    if (path) svg.append(svgNode("path", { d: path.trim(), class: "sl" }));
    svg.append(...dots);
    svg.dataset.points = String(points);
    if (!points) {
      svg.append(svgNode("text", { x: W / 2, y: H / 2 + 4, class: "none" }, "no calls yet"));
    }
    return svg;
  }

  window.wallboardChart = { render };
})();
