package sim

import (
	"bufio"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ModelSet holds extra camera meshes loaded from OBJ files, such as the
// Poly Haven box camera in ../shared/assets/camera-models. They are read
// where they are and never copied.
type ModelSet struct {
	Names  []string
	Types  []string // camera type of each model
	meshes []*Mesh  // mount frame: origin on the wall, +y out of it, +z up
	centre []Vec3   // housing centre of each mesh
}

// Len returns the number of meshes.
func (m *ModelSet) Len() int {
	if m == nil {
		return 0
	}
	return len(m.meshes)
}

// maxModelFaces is the face budget of a loaded model after simplification:
// enough for a 200-pixel camera, cheap enough for 50 images/s.
const maxModelFaces = 600

// LoadModels reads every .obj file under dir. Conventions (those of a
// Blender export with "Y up, -Z forward"): metres, +Y up, the wall or
// mounting plate at z = 0 and the camera pointing towards +Z. Objects
// ("o" lines) whose name contains "mount" or "bracket" are the mount, the
// rest is the housing (its box is the label); faces with a material whose
// name contains "glass" or "lens" are drawn as dark glass. The camera type
// comes from the file or folder name: "dome", "ptz", "alpr"/"anpr", else
// bullet (box cameras count as bullet). Models are simplified by vertex
// clustering to at most a few hundred faces.
func LoadModels(dir string) (*ModelSet, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".obj") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading camera models: %w", err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("reading camera models: no .obj files under %s", dir)
	}
	ms := &ModelSet{}
	for _, f := range files {
		m, c, err := loadOBJ(f)
		if err != nil {
			return nil, err
		}
		ms.Names = append(ms.Names, f)
		ms.Types = append(ms.Types, modelType(f))
		ms.meshes = append(ms.meshes, m)
		ms.centre = append(ms.centre, c)
	}
	return ms, nil
}

func modelType(path string) string {
	p := strings.ToLower(path)
	switch {
	case strings.Contains(p, "dome"):
		return "dome"
	case strings.Contains(p, "ptz"):
		return "ptz"
	case strings.Contains(p, "alpr") || strings.Contains(p, "anpr"):
		return "alpr"
	}
	return "bullet"
}

type objFace struct {
	idx         []int
	mount, lens bool
}

// loadOBJ parses an OBJ file into a simplified mesh in the mount frame.
func loadOBJ(path string) (*Mesh, Vec3, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Vec3{}, fmt.Errorf("reading camera model: %w", err)
	}
	defer f.Close()
	var verts []Vec3
	var faces []objFace
	mount, lens := false, false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "o", "g":
			name := strings.ToLower(strings.Join(fields[1:], " "))
			mount = strings.Contains(name, "mount") || strings.Contains(name, "bracket")
		case "usemtl":
			name := strings.ToLower(strings.Join(fields[1:], " "))
			lens = strings.Contains(name, "glass") || strings.Contains(name, "lens")
		case "v":
			if len(fields) < 4 {
				return nil, Vec3{}, fmt.Errorf("%s:%d: vertex needs 3 coordinates", path, line)
			}
			var c [3]float64
			for i := range c {
				if c[i], err = strconv.ParseFloat(fields[i+1], 64); err != nil {
					return nil, Vec3{}, fmt.Errorf("%s:%d: bad vertex coordinate %q", path, line, fields[i+1])
				}
			}
			// OBJ (x, y up, z out of the wall) -> mount frame (x right, y out, z up)
			verts = append(verts, Vec3{-c[0], c[2], c[1]})
		case "f":
			fc := objFace{mount: mount, lens: lens}
			for _, v := range fields[1:] {
				s := v
				if k := strings.IndexByte(v, '/'); k >= 0 {
					s = v[:k]
				}
				i, err := strconv.Atoi(s)
				if err != nil {
					return nil, Vec3{}, fmt.Errorf("%s:%d: bad face index %q", path, line, v)
				}
				if i < 0 {
					i = len(verts) + i + 1
				}
				if i < 1 || i > len(verts) {
					return nil, Vec3{}, fmt.Errorf("%s:%d: face index %d out of range (1..%d)", path, line, i, len(verts))
				}
				fc.idx = append(fc.idx, i-1)
			}
			if len(fc.idx) >= 3 {
				faces = append(faces, fc)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Vec3{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(faces) == 0 {
		return nil, Vec3{}, fmt.Errorf("%s: no faces", path)
	}
	lo := Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := lo.Scale(-1)
	blo, bhi := lo, hi
	for _, fc := range faces {
		for _, i := range fc.idx {
			p := verts[i]
			lo, hi = vmin(lo, p), vmax(hi, p)
			if !fc.mount {
				blo, bhi = vmin(blo, p), vmax(bhi, p)
			}
		}
	}
	ext := hi.Sub(lo)
	size := math.Max(ext.X, math.Max(ext.Y, ext.Z))
	if size <= 0 || size > 5 {
		return nil, Vec3{}, fmt.Errorf("%s: model is %.3g m across; want metres and a camera-sized object", path, size)
	}
	// vertex clustering: coarsen the grid until the face budget is met
	var out *Mesh
	for cells := 48.0; cells >= 8; cells *= 0.8 {
		out = cluster(verts, faces, size/cells)
		if len(out.Faces) <= maxModelFaces {
			break
		}
	}
	return out, blo.Lerp(bhi, 0.5), nil
}

func vmin(a, b Vec3) Vec3 { return Vec3{math.Min(a.X, b.X), math.Min(a.Y, b.Y), math.Min(a.Z, b.Z)} }
func vmax(a, b Vec3) Vec3 { return Vec3{math.Max(a.X, b.X), math.Max(a.Y, b.Y), math.Max(a.Z, b.Z)} }

// cluster merges vertices on a grid of the given cell size and keeps the
// faces that do not collapse, once each.
func cluster(verts []Vec3, faces []objFace, cell float64) *Mesh {
	type key [3]int64
	rep := map[key]int{}
	var sum []Vec3
	var cnt []float64
	vid := make([]int, len(verts))
	for i, p := range verts {
		k := key{int64(math.Floor(p.X / cell)), int64(math.Floor(p.Y / cell)), int64(math.Floor(p.Z / cell))}
		j, ok := rep[k]
		if !ok {
			j = len(sum)
			rep[k] = j
			sum = append(sum, Vec3{})
			cnt = append(cnt, 0)
		}
		sum[j] = sum[j].Add(p)
		cnt[j]++
		vid[i] = j
	}
	pos := make([]Vec3, len(sum))
	for j := range sum {
		pos[j] = sum[j].Scale(1 / cnt[j])
	}
	m := &Mesh{}
	seen := map[string]bool{}
	for _, fc := range faces {
		var ids []int
		for _, i := range fc.idx {
			j := vid[i]
			if len(ids) > 0 && (ids[len(ids)-1] == j || ids[0] == j) {
				continue
			}
			ids = append(ids, j)
		}
		if len(ids) < 3 {
			continue
		}
		s := append([]int(nil), ids...)
		sort.Ints(s)
		k := fmt.Sprint(s)
		if seen[k] {
			continue
		}
		seen[k] = true
		pts := make([]Vec3, len(ids))
		for n, j := range ids {
			pts[n] = pos[j]
		}
		// winding gives the outward normal (OBJ faces are counter-clockwise)
		var nrm Vec3
		for a := range pts {
			p, q := pts[a], pts[(a+1)%len(pts)]
			nrm.X += (p.Y - q.Y) * (p.Z + q.Z)
			nrm.Y += (p.Z - q.Z) * (p.X + q.X)
			nrm.Z += (p.X - q.X) * (p.Y + q.Y)
		}
		if nrm.Len() < 1e-12 {
			continue
		}
		f := Face{Pts: pts, Normal: nrm.Norm(), Body: !fc.mount, Spec: 0.25, TwoSided: true}
		switch {
		case fc.lens:
			f.Color, f.Spec = [3]float64{0.05, 0.05, 0.07}, 0.9
		case fc.mount:
			f.Color = [3]float64{-1, 0, 0} // mount colour, set per instance
		default:
			f.Color = [3]float64{-2, 0, 0} // body colour, set per instance
		}
		m.Faces = append(m.Faces, f)
	}
	return m
}

// instance returns model i coloured with look, turned by yawRel degrees
// about the vertical through its mount, and its housing centre.
func (ms *ModelSet) instance(i int, look camLook, yawRel float64) (*Mesh, Vec3) {
	src := ms.meshes[i]
	rot := RotZ(-rad(yawRel))
	s := look.scale
	m := &Mesh{Faces: make([]Face, len(src.Faces))}
	for k, f := range src.Faces {
		pts := make([]Vec3, len(f.Pts))
		for j, p := range f.Pts {
			pts[j] = rot.Apply(p.Scale(s))
		}
		f.Pts = pts
		f.Normal = rot.Apply(f.Normal)
		switch f.Color[0] {
		case -1:
			f.Color = look.mount
		case -2:
			f.Color = look.body
		}
		m.Faces[k] = f
	}
	return m, rot.Apply(ms.centre[i].Scale(s))
}
