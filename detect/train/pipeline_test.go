package train

import (
	"os"
	"os/exec"
	"testing"
)

// TestPythonPipeline runs the training pipeline's own unit tests
// (test_pipeline.py: model layout, ONNX export and OpenCV parity, assignment
// and loss, augmentation, metrics, a tiny train.py run with a time budget and
// a resume, the model card's text) so that `make test` guards the Python side
// too, not only `make model`. PYTHON names the interpreter (default
// /usr/bin/python3, which `make setup` gives Debian's python3-torch).
func TestPythonPipeline(t *testing.T) {
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	cmd := exec.Command(py, "-m", "unittest", "-q", "test_pipeline")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -m unittest test_pipeline: %v\n%s", py, err, out)
	}
	t.Logf("%s", out)
}
