// Signed bar charts of SHAP contributions, drawn as SVG from the frozen explanation.
// Colour is never the only carrier of meaning: each bar also has a sign ("+0.84" / "−0.31")
// and a direction word beside it, and the whole chart has a text title.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 760;
const LABEL_WIDTH = 270;
const VALUE_WIDTH = 170;
const ROW = 28;
const BAR = 18;
const TOP = 30;
const MAX_LABEL = 38;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function shorten(text) {
  return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
}

/** "+0.84" or "−0.31" (a real minus sign), to two decimals. */
export function signed(value) {
  const abs = Math.abs(value).toFixed(2);
  return value >= 0 ? `+${abs}` : `−${abs}`;
}

/**
 * Draw a horizontal bar chart of contributions around a zero axis.
 * @param {{label: string, contribution: number}[]} rows in the order to draw them
 * @param {{title: string, raises: string, lowers: string, axisLowers: string,
 *          axisRaises: string, id: string}} words
 * @returns {SVGSVGElement}
 */
export function contributionChart(rows, words) {
  const height = TOP + rows.length * ROW + 8;
  const left = LABEL_WIDTH + 10;
  const right = WIDTH - VALUE_WIDTH;
  // The zero axis sits where the largest negative and positive bars both fit, so a chart of
  // factors that all raised the score uses its whole width.
  const negative = Math.max(0, ...rows.map((row) => -row.contribution));
  const positive = Math.max(0, ...rows.map((row) => row.contribution));
  const total = Math.max(1e-12, negative + positive);
  const zero = left + (negative / total) * (right - left);
  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: "img",
    "aria-labelledby": `${words.id}-title`,
  });
  root.append(svg("title", { id: `${words.id}-title` }, words.title));
  root.append(svg("text", { x: zero - 6, y: 14, class: "axis-label", "text-anchor": "end" }, words.axisLowers));
  root.append(svg("text", { x: zero + 6, y: 14, class: "axis-label", "text-anchor": "start" }, words.axisRaises));
  rows.forEach((row, index) => {
    const raises = row.contribution >= 0;
    const y = TOP + index * ROW;
    const length = Math.max(1, (Math.abs(row.contribution) / total) * (right - left));
    const word = raises ? words.raises : words.lowers;
    const group = svg("g", { class: `factor factor-${raises ? "raises" : "lowers"}`, "data-direction": raises ? "raises" : "lowers" });
    group.append(svg("title", {}, `${row.label}: ${signed(row.contribution)} (${word})`));
    group.append(svg("text", { x: LABEL_WIDTH, y: y + BAR - 4, class: "factor-label", "text-anchor": "end" }, shorten(row.label)));
    group.append(
      svg("rect", {
        x: raises ? zero : zero - length,
        y,
        width: length,
        height: BAR,
        rx: 2,
        class: `bar bar-${raises ? "raises" : "lowers"}`,
      }),
    );
    group.append(svg("text", { x: right + 8, y: y + BAR - 4, class: "factor-value" }, `${signed(row.contribution)} ${word}`));
    root.append(group);
  });
  root.append(svg("line", { x1: zero, x2: zero, y1: TOP - 6, y2: height - 4, class: "axis" }));
  return root;
}
