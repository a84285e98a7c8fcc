package api

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/camaudit/camaudit/hub/registry"
)

func (s *Server) exportCameras(w http.ResponseWriter, r *http.Request, ext, ctype string) ([]*registry.Camera, bool) {
	f, err := filter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return nil, false
	}
	cams := s.reg.Cameras(f)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="camaudit-cameras-%s.%s"`, time.Now().UTC().Format("20060102"), ext))
	return cams, true
}

func (s *Server) exportGeoJSON(w http.ResponseWriter, r *http.Request) {
	cams, ok := s.exportCameras(w, r, "geojson", "application/geo+json")
	if !ok {
		return
	}
	writeCameras(w, cams)
}

// CSVHeader is the first row of /export/cameras.csv.
var CSVHeader = []string{"id", "lat", "lon", "err_m", "type", "mount", "direction", "status", "review",
	"sightings", "walks", "devices", "confidence", "first_seen", "last_seen"}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	cams, ok := s.exportCameras(w, r, "csv", "text/csv; charset=utf-8")
	if !ok {
		return
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, c := range cams {
		dir := ""
		if c.Direction != nil {
			dir = f(*c.Direction, 1)
		}
		_ = cw.Write([]string{c.ID, f(c.Lat, 7), f(c.Lon, 7), f(c.ErrM, 2), c.Type, c.Mount, dir, c.Status, c.Review,
			strconv.Itoa(c.Sightings), strconv.Itoa(c.Walks), strconv.Itoa(c.Devices), f(c.Confidence, 3), ts(c.FirstSeen), ts(c.LastSeen)})
	}
	cw.Flush()
}

// OSMTags returns the OpenStreetMap tags for a camera (see DESIGN.md): for
// review in JOSM, never for automatic upload.
func OSMTags(c *registry.Camera) [][2]string {
	tags := [][2]string{{"man_made", "surveillance"}}
	if c.Type == "alpr" {
		tags = append(tags, [2]string{"surveillance:type", "ALPR"}, [2]string{"surveillance:zone", "traffic"})
	} else {
		tags = append(tags, [2]string{"surveillance:type", "camera"})
	}
	switch c.Type {
	case "dome":
		tags = append(tags, [2]string{"camera:type", "dome"})
	case "bullet", "alpr":
		tags = append(tags, [2]string{"camera:type", "fixed"})
	case "ptz":
		tags = append(tags, [2]string{"camera:type", "panning"})
	}
	if c.Mount != "" && c.Mount != "unknown" {
		tags = append(tags, [2]string{"camera:mount", c.Mount})
	}
	if c.Direction != nil {
		tags = append(tags, [2]string{"camera:direction", strconv.Itoa(int(math.Round(*c.Direction)) % 360)})
	}
	tags = append(tags,
		[2]string{"surveillance", "outdoor"},
		[2]string{"check_date", c.LastSeen.UTC().Format("2006-01-02")},
		[2]string{"source", "camaudit survey"},
		[2]string{"note", fmt.Sprintf("camaudit %s: %s, %d walk(s), position ±%.0f m; verify before uploading", c.ID, c.Status, c.Walks, math.Ceil(c.ErrM))},
	)
	return tags
}

type osmTag struct {
	K string `xml:"k,attr"`
	V string `xml:"v,attr"`
}

type osmNode struct {
	ID   int64    `xml:"id,attr"`
	Lat  string   `xml:"lat,attr"`
	Lon  string   `xml:"lon,attr"`
	Tags []osmTag `xml:"tag"`
}

// exportOSM writes OSM XML 0.6 with new nodes (negative ids) and
// upload="never", so that JOSM opens it for review and refuses to upload it
// as is.
func (s *Server) exportOSM(w http.ResponseWriter, r *http.Request) {
	cams, ok := s.exportCameras(w, r, "osm", "application/xml; charset=utf-8")
	if !ok {
		return
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	fmt.Fprint(bw, xml.Header)
	fmt.Fprintln(bw, `<osm version="0.6" generator="camaudit-hub" upload="never">`)
	enc := xml.NewEncoder(bw)
	enc.Indent(" ", " ")
	for i, c := range cams {
		n := osmNode{ID: -int64(i + 1), Lat: strconv.FormatFloat(c.Lat, 'f', 7, 64), Lon: strconv.FormatFloat(c.Lon, 'f', 7, 64)}
		for _, t := range OSMTags(c) {
			n.Tags = append(n.Tags, osmTag{K: t[0], V: t[1]})
		}
		if err := enc.EncodeElement(n, xml.StartElement{Name: xml.Name{Local: "node"}}); err != nil {
			s.cfg.Logger.Error("writing the OSM export", "err", err)
			return
		}
	}
	enc.Flush()
	fmt.Fprintln(bw, "\n</osm>")
}
