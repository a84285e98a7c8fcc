// Shared by the map and the review page.
'use strict';
const TYPE_COLORS = { dome: '#d7301f', bullet: '#2b8cbe', ptz: '#7a0177', alpr: '#e6a100', unknown: '#636363' };

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || (r.status + ' ' + r.statusText));
  return body;
}

// newMap creates the Leaflet map; tiles come from the hub's configuration and
// the map works without them (everything camaudit draws is vector).
async function newMap(el) {
  const cfg = await getJSON('config.json').catch(() => ({}));
  const map = L.map(el, { preferCanvas: false, zoomControl: true }).setView([cfg.lat || 52.52, cfg.lon || 13.405], cfg.zoom || 13);
  if (cfg.tiles) {
    L.tileLayer(cfg.tiles, { maxZoom: 19, attribution: cfg.attribution || '' }).addTo(map);
  }
  return map;
}

function cameraMarker(f) {
  const p = f.properties;
  const [lon, lat] = f.geometry.coordinates;
  const m = L.circleMarker([lat, lon], {
    radius: p.status === 'confirmed' ? 7 : 5,
    color: '#fff', weight: 1.5, fillOpacity: 0.9,
    fillColor: TYPE_COLORS[p.type] || TYPE_COLORS.unknown,
    className: 'camera-marker camera-' + p.type + ' camera-' + p.status,
  });
  m.bindPopup(() => {
    const d = document.createElement('div');
    d.className = 'popup';
    const dir = p.direction !== undefined ? `, facing ${Math.round(p.direction)}°` : '';
    d.textContent = `${p.type} camera (${p.mount}${dir}) — ${p.status}, ${p.walks} walk(s), ±${p.err_m} m, last seen ${p.last_seen.slice(0, 10)}`;
    return d;
  });
  return m;
}
