// The current view as files: JSON (the topology's shape, only what is
// shown), SVG (the map with its styles inlined, so it stands alone) and PNG
// (that SVG drawn on a canvas).

import type { Topology } from '../api/topology.js';
import type { View } from './view.js';

function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function viewJson(t: Topology, view: View): Topology {
  const shown = new Set(view.flows.flatMap((e) => [e.source, e.target]));
  for (const v of view.vertices) if (v.node) shown.add(v.node.id);
  return { ...t, nodes: t.nodes.filter((n) => shown.has(n.id)), edges: view.flows };
}

/** The map as a standalone SVG document. */
export function svgText(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  const [, , w = '1200', h = '800'] = (svg.getAttribute('viewBox') ?? '').split(' ');
  copy.setAttribute('width', w);
  copy.setAttribute('height', h);
  const style = document.createElementNS('http://www.w3.org/2000/svg', 'style');
  style.textContent = [...document.styleSheets]
    .flatMap((s) => {
      try {
        return [...s.cssRules].map((r) => r.cssText).filter((t) => /\.(map|island|vertex|edge|arrow)/.test(t));
      } catch {
        return [];
      }
    })
    .join('\n');
  copy.prepend(style);
  return new XMLSerializer().serializeToString(copy);
}

export function exportJson(t: Topology, view: View): void {
  download(`kubepulse-topology-${t.generatedAt}.json`, new Blob([JSON.stringify(viewJson(t, view), null, 2)], { type: 'application/json' }));
}

export function exportSvg(svg: SVGSVGElement): void {
  download('kubepulse-topology.svg', new Blob([svgText(svg)], { type: 'image/svg+xml' }));
}

export async function exportPng(svg: SVGSVGElement): Promise<void> {
  const text = svgText(svg);
  const [, , w = '1200', h = '800'] = (svg.getAttribute('viewBox') ?? '').split(' ');
  const scale = Math.min(2, 8000 / Math.max(Number(w), Number(h)));
  const img = new Image();
  img.src = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = Math.ceil(Number(w) * scale);
  canvas.height = Math.ceil(Number(h) * scale);
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  URL.revokeObjectURL(img.src);
  const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/png'));
  if (blob) download('kubepulse-topology.png', blob);
}
