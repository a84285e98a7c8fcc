package sim

import "fmt"

// LoadModels reads the OBJ camera meshes found under dir.
func LoadModels(dir string) (*ModelSet, error) {
	return nil, fmt.Errorf("reading camera models from %s: OBJ meshes are not supported yet", dir)
}

// ModelSet holds extra camera meshes loaded from OBJ files (see LoadModels).
type ModelSet struct {
	Names  []string
	meshes []*Mesh
}

// Len returns the number of meshes.
func (m *ModelSet) Len() int {
	if m == nil {
		return 0
	}
	return len(m.meshes)
}
