// Package train holds the training pipeline of camaudit's default camera
// detector (Python on Debian's PyTorch: model.py, loss.py, data.py,
// train.py, export.py, bundle.py, run by make_model.sh for `make model`).
//
// Its Go tests check the shipped bundle, models/camaudit-cams-v1, as the
// device will run it: the ONNX loaded by the detect package (gocv, OpenCV
// 4.6) must reproduce PyTorch's output on a fixed input (reference.json,
// written when the bundle was made), and the manifest and model card must
// carry the figures the card promises.
package train
