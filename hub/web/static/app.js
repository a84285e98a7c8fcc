// The campaign map: cameras by type, density per H3 cell, coverage, filters,
// counts and route exposure. Everything is drawn as vector layers, so the map
// is useful even when no tile server can be reached.
'use strict';
(async function () {
  const LIMIT = 5000; // cameras drawn at once; zoom in for more
  const map = await newMap('map');
  const byType = {};
  for (const t of Object.keys(TYPE_COLORS)) byType[t] = L.layerGroup().addTo(map);
  const density = L.geoJSON(null, {
    style: f => {
      const n = f.properties.cameras;
      return {
        weight: 0.5, color: '#555',
        fillColor: n === 0 ? '#1a9850' : n < 3 ? '#fee08b' : n < 6 ? '#fc8d59' : '#d73027',
        fillOpacity: f.properties.covered || n > 0 ? 0.35 : 0.1,
        className: 'density-cell',
      };
    },
    onEachFeature: (f, l) => l.bindTooltip(`${f.properties.cameras} camera(s)` + (f.properties.covered ? `, walked ${f.properties.walks}×` : ', never walked')),
  });
  const coverage = L.geoJSON(null, {
    style: f => ({ weight: 1, color: '#2c7bb6', fillColor: '#2c7bb6', fillOpacity: Math.min(0.15 + 0.1 * f.properties.walks, 0.6), className: 'coverage-cell' }),
    onEachFeature: (f, l) => l.bindTooltip(`walked ${f.properties.walks}× (${f.properties.first_walked.slice(0, 10)} – ${f.properties.last_walked.slice(0, 10)})`),
  }).addTo(map);
  const overlays = { 'Coverage (walked cells)': coverage, 'Density (cameras per cell)': density };
  for (const t of Object.keys(byType)) overlays[`<i class="dot ${t}"></i>${t} cameras`] = byType[t];
  L.control.layers(null, overlays, { collapsed: window.innerWidth < 700 }).addTo(map);

  const checked = name => [...document.querySelectorAll(`input[name=${name}]:checked`)].map(i => i.value);
  const query = () => {
    const q = new URLSearchParams();
    q.set('status', checked('status').join(',') || 'none');
    q.set('type', checked('type').join(',') || 'none');
    return q;
  };
  const setText = (id, v) => { document.getElementById(id).textContent = v; };

  async function loadStats() {
    const s = await getJSON('api/stats');
    setText('count-cameras', s.cameras);
    setText('count-confirmed', s.cameras_by_status.confirmed || 0);
    setText('count-single', s.cameras_by_status.single || 0);
    setText('count-walks', s.walks);
    setText('count-cells', s.cells_walked);
    setText('count-rejected', s.rejected_messages_total);
    const ul = document.getElementById('count-types');
    ul.replaceChildren(...Object.entries(s.cameras_by_type).filter(([, n]) => n > 0).map(([t, n]) => {
      const li = document.createElement('li');
      li.innerHTML = `<i class="dot ${t}"></i>`;
      li.append(`${t}: ${n}`);
      li.dataset.type = t;
      return li;
    }));
  }

  let seq = 0;
  async function loadCameras() {
    const my = ++seq;
    const q = query();
    if (q.get('status') === 'none' || q.get('type') === 'none') {
      for (const g of Object.values(byType)) g.clearLayers();
      setText('count-view', 'No camera matches the filters.');
      return 0;
    }
    const b = map.getBounds();
    q.set('bbox', [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(x => x.toFixed(6)).join(','));
    q.set('limit', LIMIT);
    const fc = await getJSON('api/cameras?' + q);
    if (my !== seq) return 0; // a newer request is under way
    for (const g of Object.values(byType)) g.clearLayers();
    for (const f of fc.features) (byType[f.properties.type] || byType.unknown).addLayer(cameraMarker(f));
    setText('count-view', fc.features.length >= LIMIT ? `Showing the first ${LIMIT} cameras here: zoom in for all.` : `${fc.features.length} camera(s) in view.`);
    return fc.features.length;
  }

  async function loadCells() {
    const q = query();
    q.delete('type');
    const [cells, cov] = await Promise.all([getJSON('api/cells?' + q), getJSON('api/coverage')]);
    density.clearLayers().addData(cells);
    coverage.clearLayers().addData(cov);
    return cells;
  }

  // Route exposure: click points, then ask the hub.
  const route = L.polyline([], { color: '#000', weight: 3, dashArray: '6 4', className: 'route' }).addTo(map);
  const exposed = L.geoJSON(null, { style: { color: '#d7301f', weight: 6, opacity: 0.8, className: 'route-exposed' } }).addTo(map);
  let drawing = false;
  const drawBtn = document.getElementById('route-draw');
  const measureBtn = document.getElementById('route-measure');
  drawBtn.onclick = () => {
    drawing = !drawing;
    drawBtn.textContent = drawing ? 'Stop drawing' : 'Draw route';
    map.getContainer().classList.toggle('drawing', drawing);
  };
  map.on('click', e => {
    if (!drawing) return;
    route.addLatLng(e.latlng);
    measureBtn.disabled = route.getLatLngs().length < 2;
  });
  document.getElementById('route-clear').onclick = () => {
    route.setLatLngs([]);
    exposed.clearLayers();
    measureBtn.disabled = true;
    setText('exposure-result', '');
  };
  measureBtn.onclick = async () => {
    const coords = route.getLatLngs().map(p => [p.lng, p.lat]);
    const radius = document.getElementById('radius').value || 200;
    const q = new URLSearchParams({ radius, status: checked('status').join(',') || 'single,confirmed' });
    try {
      const r = await getJSON('api/exposure?' + q, {
        method: 'POST', headers: { 'Content-Type': 'application/geo+json' },
        body: JSON.stringify({ type: 'LineString', coordinates: coords }),
      });
      exposed.clearLayers().addData(r.exposed);
      const res = document.getElementById('exposure-result');
      res.textContent = `${Math.round(r.share * 100)} % exposed: ${Math.round(r.exposed_m)} of ${Math.round(r.length_m)} m within ${r.radius_m} m of ${r.cameras} camera(s).`;
      res.dataset.share = r.share;
    } catch (err) {
      setText('exposure-result', 'Could not measure: ' + err.message);
    }
  };

  document.getElementById('toggle').onclick = e => {
    const p = document.getElementById('panel');
    const hidden = p.classList.toggle('collapsed');
    e.target.textContent = hidden ? 'Show' : 'Hide';
    e.target.setAttribute('aria-expanded', String(!hidden));
  };
  for (const i of document.querySelectorAll('#filters input')) i.onchange = () => { loadCameras(); loadCells(); };
  map.on('moveend', () => loadCameras().catch(showError));

  function showError(err) {
    document.body.dataset.state = 'error';
    document.body.dataset.error = err.message;
    setText('count-view', 'The hub did not answer: ' + err.message);
  }

  try {
    await loadStats();
    const cells = await loadCells();
    const bounds = L.geoJSON(cells).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], animate: false });
    await loadCameras();
    document.body.dataset.state = 'ready';
  } catch (err) {
    showError(err);
  }
  setInterval(() => loadStats().catch(() => {}), 30000);
})();
