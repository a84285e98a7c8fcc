// Copies the Leaflet files the map needs from node_modules into
// static/vendor/leaflet, which the Go package embeds. Run by `npm ci`
// (postinstall); the copies are committed so that a clean clone builds even
// before npm has run, and a Go test checks they match node_modules.
const fs = require('fs');
const path = require('path');
const src = path.join(__dirname, 'node_modules', 'leaflet', 'dist');
const dst = path.join(__dirname, 'static', 'vendor', 'leaflet');
const files = ['leaflet.js', 'leaflet.css', 'images/layers.png', 'images/layers-2x.png',
  'images/marker-icon.png', 'images/marker-icon-2x.png', 'images/marker-shadow.png'];
for (const f of files) {
  fs.mkdirSync(path.dirname(path.join(dst, f)), { recursive: true });
  fs.copyFileSync(path.join(src, f), path.join(dst, f));
}
fs.copyFileSync(path.join(__dirname, 'node_modules', 'leaflet', 'LICENSE'), path.join(dst, 'LICENSE'));
console.log(`vendor.js: copied ${files.length + 1} Leaflet files into ${path.relative(process.cwd(), dst) || dst}`);
