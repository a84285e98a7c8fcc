// Package eval measures camaudit against ground truth: detection metrics and
// walk metrics.
package eval
