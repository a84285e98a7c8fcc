package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// a unit cube housing on a thin mount plate, Blender-style (Y up, +Z out)
const cubeOBJ = `o cam_mount
v -0.02 -0.02 0
v 0.02 -0.02 0
v 0.02 0.02 0
v -0.02 0.02 0
f 1 2 3 4
o cam_body
usemtl white
v -0.05 0.0 0.05
v 0.05 0.0 0.05
v 0.05 0.1 0.05
v -0.05 0.1 0.05
v -0.05 0.0 0.25
v 0.05 0.0 0.25
v 0.05 0.1 0.25
v -0.05 0.1 0.25
f 5 8 7 6
f 9 10 11 12
f 5 6 10 9
f 7 8 12 11
f 6 7 11 10
usemtl lens_glass
f 8 5 9 12
`

func TestLoadModels(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "box.obj"), []byte(cubeOBJ), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := LoadModels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Len() != 1 || ms.Types[0] != "bullet" {
		t.Fatalf("loaded %d models, types %v", ms.Len(), ms.Types)
	}
	m, c := ms.instance(0, camLook{body: colWhite, mount: colGrey, scale: 1}, 0)
	if len(m.Faces) != 7 {
		t.Fatalf("%d faces, want 7", len(m.Faces))
	}
	// OBJ +Z (out of the wall) becomes +y, OBJ +Y (up) becomes +z
	if d := c.Sub(Vec3{0, 0.15, 0.05}).Len(); d > 1e-9 {
		t.Fatalf("housing centre %v, want (0, 0.15, 0.05)", c)
	}
	lens, body := 0, 0
	for _, f := range m.Faces {
		if f.Color == colWhite {
			body++
		}
		if f.Spec > 0.8 {
			lens++
		}
	}
	if lens != 1 || body != 5 {
		t.Fatalf("%d lens and %d body faces", lens, body)
	}
	// bad files name the file and line
	if err := os.WriteFile(filepath.Join(dir, "bad.obj"), []byte("v 0 0 0\nf 1 2 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModels(dir); err == nil || !strings.Contains(err.Error(), "bad.obj:2: face index 2 out of range") {
		t.Fatalf("error %v", err)
	}
}

func TestLoadSharedModel(t *testing.T) {
	dir := "../../shared/assets/camera-models"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("the shared camera models are not next to this checkout")
	}
	ms, err := LoadModels(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < ms.Len(); i++ {
		m, c := ms.instance(i, camLook{body: colWhite, mount: colGrey, scale: 1}, 0)
		ext := extentOf(m, true)
		if len(m.Faces) > maxModelFaces || len(m.Faces) < 50 || ext < 0.1 || ext > 0.6 || c.Y <= 0 {
			t.Fatalf("%s: %d faces, housing %.2f m, centre %v", ms.Names[i], len(m.Faces), ext, c)
		}
	}
}
