// The review page: behind the hub's token, confirm or reject cameras.
'use strict';
(async function () {
  const map = await newMap('map');
  const layer = L.layerGroup().addTo(map);
  let token = sessionStorage.getItem('camaudit-token') || '';
  const auth = () => ({ Authorization: 'Bearer ' + token });

  async function unlock() {
    try {
      await getJSON('api/auth', { headers: auth() });
    } catch (err) {
      document.getElementById('login-error').textContent = err.message;
      document.body.dataset.state = 'denied';
      return;
    }
    sessionStorage.setItem('camaudit-token', token);
    document.getElementById('login').hidden = true;
    document.getElementById('queue').hidden = false;
    document.body.dataset.state = 'unlocked';
    load();
  }

  async function decide(id, decision, li) {
    try {
      const f = await getJSON(`api/cameras/${encodeURIComponent(id)}/review`, {
        method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ decision }),
      });
      li.dataset.status = f.properties.status;
      li.querySelector('.status').textContent = f.properties.status + (f.properties.review ? ' (reviewed)' : '');
    } catch (err) {
      li.querySelector('.status').textContent = 'failed: ' + err.message;
    }
  }

  async function load() {
    const show = document.getElementById('show').value;
    const fc = await getJSON('api/cameras?limit=500&status=' + show);
    layer.clearLayers();
    const ol = document.getElementById('items');
    ol.replaceChildren();
    const markers = [];
    for (const f of fc.features) {
      const p = f.properties;
      const m = cameraMarker(f).addTo(layer);
      markers.push(m);
      const li = document.createElement('li');
      li.dataset.id = p.id;
      li.dataset.status = p.status;
      const title = document.createElement('button');
      title.type = 'button';
      title.className = 'link';
      title.textContent = `${p.type} · ${p.mount} · ${p.walks} walk(s) · ±${p.err_m} m`;
      title.onclick = () => { map.setView(m.getLatLng(), 19); m.openPopup(); };
      const status = document.createElement('span');
      status.className = 'status';
      status.textContent = p.status + (p.review ? ' (reviewed)' : '');
      const buttons = document.createElement('span');
      buttons.className = 'buttons';
      for (const d of ['confirm', 'reject', 'clear']) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = d;
        b.className = 'decide-' + d;
        b.onclick = () => decide(p.id, d, li);
        buttons.append(b);
      }
      li.append(title, ' ', status, buttons);
      ol.append(li);
    }
    if (markers.length) map.fitBounds(L.featureGroup(markers).getBounds(), { padding: [20, 20], maxZoom: 18, animate: false });
    document.body.dataset.items = String(fc.features.length);
  }

  document.getElementById('show').onchange = load;
  document.getElementById('login').onsubmit = e => {
    e.preventDefault();
    token = document.getElementById('token').value;
    unlock();
  };
  document.body.dataset.state = 'locked';
  if (token) unlock();
})();
