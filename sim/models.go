package sim

import (
	"math"
	"math/rand/v2"
)

// DistractorKinds are the look-alikes the renderer can place: things on
// walls and poles that a camera detector must learn to ignore.
var DistractorKinds = []string{
	"globe_lamp", "wall_lantern", "floodlight", "smoke_detector", "speaker",
	"dish", "birdhouse", "round_sign", "alarm_box", "ac_unit", "motion_sensor",
	"junction_box", "house_number", "street_lamp", "rect_sign",
}

// camLook is the appearance of one camera: colours and size.
type camLook struct {
	body    [3]float64 // housing
	dark    [3]float64 // dome bubble / lens / IR panel
	mount   [3]float64 // bracket
	scale   float64
	variant int // type-specific shape variant
}

var (
	colWhite = [3]float64{0.86, 0.86, 0.84}
	colGrey  = [3]float64{0.62, 0.63, 0.64}
	colBlack = [3]float64{0.08, 0.08, 0.09}
	colBeige = [3]float64{0.80, 0.76, 0.66}
)

// namedColor maps a scenario colour name to an albedo.
func namedColor(name string) ([3]float64, bool) {
	switch name {
	case "white":
		return colWhite, true
	case "grey":
		return colGrey, true
	case "black":
		return colBlack, true
	case "beige":
		return colBeige, true
	}
	return [3]float64{}, false
}

// randomLook draws a plausible appearance for a camera of type typ.
func randomLook(rng *rand.Rand, typ string) camLook {
	l := camLook{scale: 0.85 + 0.35*rng.Float64(), variant: rng.IntN(3)}
	p := rng.Float64()
	switch {
	case typ == "alpr" && p < 0.75:
		l.body = jitterColor(rng, colBlack, 0.06)
	case typ == "alpr":
		l.body = jitterColor(rng, [3]float64{0.3, 0.31, 0.32}, 0.05)
	case p < 0.6:
		l.body = jitterColor(rng, colWhite, 0.06)
	case p < 0.75:
		l.body = jitterColor(rng, colGrey, 0.08)
	case p < 0.92:
		l.body = jitterColor(rng, colBlack, 0.05)
	default:
		l.body = jitterColor(rng, colBeige, 0.05)
	}
	g := 0.06 + 0.14*rng.Float64()
	l.dark = [3]float64{g, g, g * 1.08}
	if rng.Float64() < 0.7 {
		l.mount = l.body
	} else {
		l.mount = jitterColor(rng, colGrey, 0.1)
	}
	return l
}

func jitterColor(rng *rand.Rand, c [3]float64, a float64) [3]float64 {
	s := 1 + a*(2*rng.Float64()-1)
	mean := (c[0] + c[1] + c[2]) / 3
	var out [3]float64
	for i := range c {
		out[i] = clamp(c[i]*s+a*0.3*mean*(2*rng.Float64()-1), 0, 1)
	}
	return out
}

// cameraMesh builds a surveillance camera of type typ on mount, in the
// mount frame: origin at the wall surface (wall), the ceiling (ceiling) or
// the pole axis (pole, street_lamp); +y points away from the wall/pole,
// +z up. yawRel turns the housing right of +y, tilt points it down
// (degrees). segs is the level of detail of round parts. It returns the
// mesh and the housing centre in the mount frame.
func cameraMesh(typ, mount string, yawRel, tilt float64, look camLook, segs int) (*Mesh, Vec3) {
	m := &Mesh{}
	s := look.scale
	body := material{color: look.body, spec: 0.25, body: true}
	dark := material{color: look.dark, spec: 0.9, body: true}
	mnt := material{color: look.mount, spec: 0.15}
	onPole := mount == "pole" || mount == "street_lamp"

	// reach is how far the housing sits from the wall/pole axis.
	reach := map[string]float64{"dome": 0.2, "bullet": 0.13, "ptz": 0.32, "alpr": 0.28}[typ] * s
	if onPole {
		reach += 0.12
	}
	var pivot Vec3 // where the housing hangs or sits
	switch mount {
	case "ceiling":
		drop := map[string]float64{"dome": 0, "bullet": 0.12, "ptz": 0.18, "alpr": 0.12}[typ] * s
		m.cylinder(xform{Identity3, Vec3{0, 0, -drop - 0.005}}, 0.02*s, 0.02*s, drop+0.005, max(segs/2, 4), false, mnt)
		m.cylinder(at(Vec3{0, 0, -0.012}), 0.05*s, 0.05*s, 0.012, segs, true, mnt) // ceiling plate
		pivot = Vec3{0, 0, -drop}
	default:
		if onPole {
			m.box(at(Vec3{0, 0, 0}), 0.2*s, 0.2*s, 0.1*s, mnt) // clamp around the pole
		} else {
			m.box(at(Vec3{0, 0.01 * s, 0}), 0.1*s, 0.02*s, 0.14*s, mnt) // wall plate
		}
		m.box(at(Vec3{0, reach / 2, 0}), 0.045*s, reach, 0.04*s, mnt) // arm
		pivot = Vec3{0, reach, 0}
	}
	hr := xform{RotZ(-rad(yawRel)).Mul(RotX(-rad(tilt))), pivot}
	var centre Vec3
	switch typ {
	case "dome":
		// base ring under the arm end (or against the ceiling), smoked bubble below it
		top := -0.02 * s
		if mount == "ceiling" {
			top = 0
		}
		ringH := 0.03 * s
		if look.variant == 2 {
			// turret ("eyeball"): a shallow base with a ball and its lens
			baseH := 0.022 * s
			m.cylinder(at(pivot.Add(Vec3{0, 0, top - baseH})), 0.062*s, 0.058*s, baseH, segs, true, body)
			r := 0.046 * s
			bc := pivot.Add(Vec3{0, 0, top - baseH - r*0.55})
			m.sphere(at(bc), r, 1, segs, max(segs/3, 3), 0, math.Pi, false, false, material{color: look.body, spec: 0.35, body: true})
			// the lens looks along the housing's yaw, tilted down
			lt := xform{hr.Rot.Mul(RotX(-rad(25))), bc}
			m.cylinder(xform{RotX(-math.Pi / 2), Vec3{0, r * 0.82, 0}}.then(lt), 0.026*s, 0.024*s, r*0.3, segs, true,
				material{color: look.dark, spec: 0.9, body: true})
			centre = bc
			break
		}
		m.cylinder(at(pivot.Add(Vec3{0, 0, top - ringH})), 0.075*s, 0.068*s, ringH, segs, true, body)
		bc := pivot.Add(Vec3{0, 0, top - ringH})
		r := 0.058 * s
		if look.variant == 1 { // larger vandal dome with a visible skirt
			r = 0.064 * s
			m.cylinder(at(bc.Add(Vec3{0, 0, -0.01 * s})), 0.08*s, 0.08*s, 0.01*s, segs, true, body)
			bc = bc.Add(Vec3{0, 0, -0.01 * s})
		}
		m.sphere(at(bc), r, 0.9, segs, max(segs/4, 2), math.Pi/2, math.Pi, false, false, dark)
		centre = bc.Add(Vec3{0, 0, -0.01 * s})
	case "bullet":
		post := 0.05 * s
		if mount == "ceiling" {
			post = -0.05 * s
		}
		m.sphere(at(pivot), 0.022*s, 1, max(segs/2, 4), 3, 0, math.Pi, false, false, mnt)
		if post > 0 {
			m.cylinder(at(pivot), 0.014*s, 0.014*s, post, max(segs/2, 4), false, mnt)
		} else {
			m.cylinder(at(pivot.Add(Vec3{0, 0, post})), 0.014*s, 0.014*s, -post, max(segs/2, 4), false, mnt)
		}
		h := xform{hr.Rot, pivot.Add(Vec3{0, 0, post + math.Copysign(0.045*s, post)})}
		along := RotX(-math.Pi / 2) // cylinder axis z -> housing +y
		if look.variant != 1 {
			// round bullet with a half-pipe sun hood (variant 2: longer,
			// with a ring of IR LEDs around the lens)
			L := 0.24 * s
			if look.variant == 2 {
				L = 0.3 * s
				m.disc(xform{Identity3, Vec3{0, (L - 0.11*s) + 0.0008, 0}}.then(h), 0.038*s, segs,
					material{color: [3]float64{0.12, 0.05, 0.06}, spec: 0.6, body: true})
			}
			m.cylinder(xform{along, Vec3{0, -0.11 * s, 0}}.then(h), 0.042*s, 0.042*s, L, segs, true, body)
			m.box(xform{Identity3, Vec3{0, 0.045 * s, 0.046 * s}}.then(h), 0.1*s, 0.22*s, 0.008*s, body)
			m.box(xform{Identity3, Vec3{0.047 * s, 0.06 * s, 0.02 * s}}.then(h), 0.006*s, 0.18*s, 0.05*s, body)
			m.box(xform{Identity3, Vec3{-0.047 * s, 0.06 * s, 0.02 * s}}.then(h), 0.006*s, 0.18*s, 0.05*s, body)
			m.disc(xform{Identity3, Vec3{0, (L - 0.11*s) + 0.0015, 0}}.then(h), 0.024*s, segs, dark)
		} else {
			// box camera in a weather housing with a flat hood
			m.box(xform{Identity3, Vec3{0, 0.01 * s, 0}}.then(h), 0.1*s, 0.3*s, 0.09*s, body)
			m.box(xform{Identity3, Vec3{0, 0.04 * s, 0.052 * s}}.then(h), 0.12*s, 0.34*s, 0.01*s, body)
			m.box(xform{Identity3, Vec3{0, 0.1605 * s, 0}}.then(h), 0.085*s, 0.001*s, 0.07*s, dark)
		}
		centre = h.Off
	case "ptz":
		// pendant: tube down from the arm end, cap, then the bubble
		tube := 0.07 * s
		if mount == "ceiling" {
			tube = 0.01 * s
		}
		m.cylinder(at(pivot.Add(Vec3{0, 0, -tube})), 0.028*s, 0.028*s, tube, max(segs/2, 4), false, mnt)
		capH := 0.1 * s
		cb := pivot.Add(Vec3{0, 0, -tube - capH})
		m.cylinder(at(cb), 0.1*s, 0.075*s, capH, segs, true, body)
		r := 0.095 * s
		if look.variant == 1 {
			m.cylinder(at(cb.Add(Vec3{0, 0, -0.025 * s})), 0.1*s, 0.1*s, 0.025*s, segs, true, body)
			cb = cb.Add(Vec3{0, 0, -0.025 * s})
		}
		m.sphere(at(cb), r, 1, segs, max(segs/3, 2), math.Pi/2, math.Pi, false, false, dark)
		centre = cb
	case "alpr":
		if look.variant == 1 && onPole {
			// compact solar-powered ALPR: a small dark box under a solar panel
			h := xform{hr.Rot, pivot.Add(Vec3{0, 0, -0.09 * s})}
			m.cylinder(at(pivot.Add(Vec3{0, 0, -0.04 * s})), 0.015*s, 0.015*s, 0.04*s, max(segs/2, 4), false, mnt)
			m.box(xform{Identity3, Vec3{0, 0, 0}}.then(h), 0.11*s, 0.13*s, 0.15*s, body)
			m.box(xform{Identity3, Vec3{0, 0.066 * s, 0.01 * s}}.then(h), 0.09*s, 0.004*s, 0.11*s,
				material{color: [3]float64{0.04, 0.04, 0.05}, spec: 1, body: true})
			panel := material{color: [3]float64{0.1, 0.14, 0.3}, spec: 0.8}
			m.box(at(Vec3{0, -0.05, 0.45 * s}), 0.04, 0.04, 0.9*s, mnt) // riser on the pole
			m.box(xform{RotX(rad(35)), Vec3{0, 0.05, 0.9 * s}}, 0.55*s, 0.4*s, 0.03, panel)
			centre = h.Off
			break
		}
		h := xform{hr.Rot, pivot.Add(Vec3{0, 0, -0.1 * s})}
		m.cylinder(at(pivot.Add(Vec3{0, 0, -0.04 * s})), 0.015*s, 0.015*s, 0.04*s, max(segs/2, 4), false, mnt)
		m.box(xform{Identity3, Vec3{0, 0, 0}}.then(h), 0.13*s, 0.3*s, 0.12*s, body)
		m.box(xform{Identity3, Vec3{0, 0.03 * s, 0.066 * s}}.then(h), 0.15*s, 0.36*s, 0.01*s, body)
		panel := material{color: [3]float64{0.1, 0.04, 0.05}, spec: 0.7, body: true}
		m.box(xform{Identity3, Vec3{0, 0.155 * s, 0}}.then(h), 0.14*s, 0.012*s, 0.12*s, panel)
		if segs >= 8 { // IR LEDs around the lens, only worth drawing close up
			led := material{color: [3]float64{0.35, 0.08, 0.08}, spec: 0.5, emit: 0.05, body: true}
			for i := 0; i < 3; i++ {
				for _, x := range []float64{-0.045, 0.045} {
					m.disc(xform{Identity3, Vec3{x * s, 0.1615 * s, (float64(i) - 1) * 0.035 * s}}.then(h), 0.009*s, 6, led)
				}
			}
		}
		m.disc(xform{Identity3, Vec3{0, 0.1615 * s, 0}}.then(h), 0.025*s, segs, material{color: [3]float64{0.05, 0.06, 0.1}, spec: 1, body: true})
		centre = h.Off
	}
	return m, centre
}

// distractorMesh builds a look-alike of kind in its mount frame (origin
// on the wall surface or at the foot of its pole; +y away from the wall,
// +z up). It returns the mesh and a centre point.
func distractorMesh(rng *rand.Rand, kind string, segs int, dusk bool) (*Mesh, Vec3) {
	m := &Mesh{}
	glow := 0.05
	if dusk {
		glow = 0.7
	}
	metal := material{color: jitterColor(rng, [3]float64{0.25, 0.26, 0.27}, 0.3), spec: 0.3}
	white := material{color: jitterColor(rng, colWhite, 0.05), spec: 0.2}
	s := 0.85 + 0.3*rng.Float64()
	switch kind {
	case "globe_lamp":
		m.box(at(Vec3{0, 0.01, 0}), 0.08, 0.02, 0.12, metal)
		m.box(at(Vec3{0, 0.15 * s, 0}), 0.03, 0.3*s, 0.03, metal)
		m.cylinder(at(Vec3{0, 0.3 * s, 0}), 0.015, 0.015, 0.1*s, 4, false, metal)
		r := (0.1 + 0.08*rng.Float64()) * s
		m.sphere(at(Vec3{0, 0.3 * s, 0.1*s + r}), r, 1, segs, max(segs/2, 3), 0, math.Pi, false, false,
			material{color: [3]float64{0.92, 0.92, 0.88}, spec: 0.4, emit: glow})
		return m, Vec3{0, 0.3 * s, 0.1*s + r}
	case "wall_lantern":
		m.box(at(Vec3{0, 0.01, 0}), 0.08, 0.02, 0.14, metal)
		m.box(at(Vec3{0, 0.1, 0.05}), 0.025, 0.18, 0.025, metal)
		c := Vec3{0, 0.2 * s, -0.05}
		m.box(at(c), 0.16*s, 0.16*s, 0.26*s, material{color: [3]float64{0.55, 0.45, 0.25}, spec: 0.6, emit: glow})
		m.cylinder(at(c.Add(Vec3{0, 0, 0.13 * s})), 0.13*s, 0.01, 0.1*s, 4, true, metal)
		return m, c
	case "floodlight":
		m.box(at(Vec3{0, 0.01, 0}), 0.06, 0.02, 0.08, metal)
		m.box(at(Vec3{0, 0.05, 0}), 0.02, 0.08, 0.02, metal)
		body := metal
		if rng.IntN(2) == 0 {
			body = white
		}
		h := xform{RotX(-rad(20 + 30*rng.Float64())), Vec3{0, 0.1, -0.02}}
		m.box(xform{Identity3, Vec3{0, 0, 0}}.then(h), 0.24*s, 0.07*s, 0.17*s, body)
		m.plate(xform{Identity3, Vec3{0, 0.036 * s, 0}}.then(h), 0.2*s, 0.13*s, material{color: [3]float64{0.75, 0.75, 0.7}, spec: 0.8, emit: glow})
		m.sphere(at(Vec3{0, 0.08, -0.12 * s}), 0.03*s, 1, max(segs/2, 4), 2, math.Pi/2, math.Pi, false, true, white)
		return m, Vec3{0, 0.1, -0.02}
	case "smoke_detector":
		c := Vec3{0, 0.03, 0}
		m.cylinder(xform{RotX(-math.Pi / 2), Vec3{0, 0, 0}}, 0.06*s, 0.055*s, 0.035*s, segs, true, white)
		return m, c
	case "motion_sensor":
		m.box(at(Vec3{0, 0.03, 0}), 0.07*s, 0.06*s, 0.1*s, white)
		m.sphere(xform{RotX(-math.Pi / 2), Vec3{0, 0.06 * s, -0.01}}, 0.028*s, 1, max(segs/2, 4), 2, 0, math.Pi/2, false, false,
			material{color: [3]float64{0.82, 0.82, 0.8}, spec: 0.5})
		return m, Vec3{0, 0.03, 0}
	case "speaker":
		m.box(at(Vec3{0, 0.05, 0}), 0.03, 0.1, 0.03, metal)
		h := xform{RotZ(rad(40 * (rng.Float64() - 0.5))).Mul(RotX(-rad(10 + 20*rng.Float64()))), Vec3{0, 0.12, 0}}
		mt := material{color: jitterColor(rng, [3]float64{0.7, 0.7, 0.68}, 0.2), spec: 0.3}
		m.cylinder(xform{RotX(-math.Pi / 2), Vec3{0, -0.1 * s, 0}}.then(h), 0.05*s, 0.14*s, 0.28*s, segs, true, mt)
		return m, h.Off
	case "dish":
		m.box(at(Vec3{0, 0.15, -0.1}), 0.03, 0.3, 0.03, metal)
		h := xform{RotZ(rad(60 * (rng.Float64() - 0.5))).Mul(RotX(rad(20 + 20*rng.Float64()))), Vec3{0, 0.32, 0}}
		mt := material{color: jitterColor(rng, [3]float64{0.85, 0.85, 0.83}, 0.1), spec: 0.2}
		r := (0.25 + 0.15*rng.Float64()) * s
		m.cylinder(xform{RotX(-math.Pi / 2), Vec3{0, 0, 0}}.then(h), 0.05, r, 0.08, segs, true, mt)
		m.box(xform{Identity3, Vec3{0, 0.2, -0.1}}.then(h), 0.02, 0.35, 0.02, metal)
		m.box(xform{Identity3, Vec3{0, 0.38, -0.1}}.then(h), 0.05, 0.1, 0.05, mt)
		return m, h.Off
	case "birdhouse":
		wood := material{color: jitterColor(rng, [3]float64{0.55, 0.38, 0.22}, 0.2), spec: 0.05}
		c := Vec3{0, 0.1, 0}
		m.box(at(c), 0.18*s, 0.18*s, 0.22*s, wood)
		m.box(xform{RotY(rad(35)), c.Add(Vec3{-0.055 * s, 0, 0.14 * s})}, 0.14*s, 0.22*s, 0.015*s, wood)
		m.box(xform{RotY(rad(-35)), c.Add(Vec3{0.055 * s, 0, 0.14 * s})}, 0.14*s, 0.22*s, 0.015*s, wood)
		m.disc(at(c.Add(Vec3{0, 0.091 * s, 0.02})), 0.025*s, segs, material{color: [3]float64{0.03, 0.03, 0.03}})
		return m, c
	case "round_sign":
		// a sign on its own thin pole: the origin is the pole's foot
		hgt := 2.2 + 0.6*rng.Float64()
		m.cylinder(at(Vec3{}), 0.03, 0.03, hgt, max(segs/2, 4), false, metal)
		r := 0.3 * s
		face := [][3]float64{{0.8, 0.1, 0.1}, {0.1, 0.25, 0.7}, {0.95, 0.95, 0.95}, {0.9, 0.7, 0.1}}[rng.IntN(4)]
		m.cylinder(xform{RotX(-math.Pi / 2), Vec3{0, 0.035, hgt}}, r, r, 0.01, segs, true, material{color: face, spec: 0.3})
		return m, Vec3{0, 0.04, hgt}
	case "rect_sign":
		// a rectangular traffic or parking sign on its own thin pole
		hgt := 2.1 + 0.5*rng.Float64()
		m.cylinder(at(Vec3{}), 0.03, 0.03, hgt+0.2, max(segs/2, 4), false, metal)
		face := [][3]float64{{0.1, 0.25, 0.7}, {0.95, 0.95, 0.95}, {0.9, 0.75, 0.1}, {0.1, 0.45, 0.2}}[rng.IntN(4)]
		w, h := 0.4+0.3*rng.Float64(), 0.4+0.3*rng.Float64()
		m.box(at(Vec3{0, 0.035, hgt}), w*s, 0.015, h*s, material{color: face, spec: 0.3})
		return m, Vec3{0, 0.04, hgt}
	case "alarm_box":
		cols := [][3]float64{{0.1, 0.2, 0.7}, {0.8, 0.1, 0.1}, {0.9, 0.75, 0.1}, {0.9, 0.9, 0.88}}
		c := Vec3{0, 0.04, 0}
		m.box(at(c), 0.26*s, 0.08*s, 0.34*s, material{color: cols[rng.IntN(len(cols))], spec: 0.4})
		m.box(at(c.Add(Vec3{0, 0.041 * s, -0.1 * s})), 0.2*s, 0.005, 0.05*s, white)
		return m, c
	case "ac_unit":
		c := Vec3{0, 0.16, 0}
		m.box(at(Vec3{0, 0.16, -0.3}), 0.7, 0.3, 0.03, metal)
		m.box(at(c), 0.8*s, 0.3*s, 0.55*s, white)
		m.disc(at(c.Add(Vec3{0.12 * s, 0.151 * s, 0})), 0.2*s, segs, material{color: [3]float64{0.2, 0.2, 0.2}})
		return m, c
	case "junction_box":
		c := Vec3{0, 0.08, 0}
		m.box(at(c), 0.3*s, 0.15*s, 0.4*s, material{color: jitterColor(rng, [3]float64{0.55, 0.57, 0.55}, 0.2), spec: 0.2})
		return m, c
	case "house_number":
		c := Vec3{0, 0.01, 0}
		m.box(at(c), 0.22*s, 0.015, 0.16*s, material{color: [3]float64{0.1, 0.2, 0.6}, spec: 0.3})
		return m, c
	case "street_lamp":
		return lampMesh(rng, 6, 1.5, rng.IntN(2) == 0, segs, dusk)
	}
	return m, Vec3{}
}

// lampMesh builds a street lamp: a pole from the ground (origin) of height
// hgt with an arm of length arm along +y and a cobra head, or a globe on
// top when globe is set.
func lampMesh(rng *rand.Rand, hgt, arm float64, globe bool, segs int, dusk bool) (*Mesh, Vec3) {
	m := &Mesh{}
	glow := 0.1
	if dusk {
		glow = 1.0
	}
	pole := material{color: jitterColor(rng, [3]float64{0.3, 0.32, 0.32}, 0.3), spec: 0.3}
	m.cylinder(at(Vec3{}), 0.09, 0.06, hgt, max(segs/2, 4), true, pole)
	if globe {
		m.cylinder(at(Vec3{0, 0, hgt}), 0.05, 0.09, 0.15, max(segs/2, 4), true, pole)
		c := Vec3{0, 0, hgt + 0.15 + 0.22}
		m.sphere(at(c), 0.22, 1, segs, max(segs/2, 3), 0, math.Pi, false, false,
			material{color: [3]float64{0.93, 0.93, 0.9}, spec: 0.4, emit: glow})
		return m, c
	}
	m.box(xform{RotX(rad(8)), Vec3{0, arm / 2, hgt + 0.05}}, 0.05, arm, 0.05, pole)
	c := Vec3{0, arm, hgt + 0.12}
	m.box(at(c), 0.28, 0.6, 0.1, pole)
	m.plate(xform{RotX(math.Pi / 2), c.Add(Vec3{0, 0, -0.051})}, 0.22, 0.5, material{color: [3]float64{0.9, 0.9, 0.85}, emit: glow, twoSided: true})
	return m, c
}

// poleMesh builds a plain pole of height hgt from the ground (origin).
func poleMesh(rng *rand.Rand, hgt float64, segs int) *Mesh {
	m := &Mesh{}
	pole := material{color: jitterColor(rng, [3]float64{0.3, 0.32, 0.32}, 0.35), spec: 0.3}
	m.cylinder(at(Vec3{}), 0.08, 0.07, hgt, max(segs/2, 4), true, pole)
	return m
}

// canopyMesh builds a flat canopy (entrance roof) sticking out of a wall:
// origin on the wall at the underside height, +y outwards.
func canopyMesh(rng *rand.Rand, width, depth float64) *Mesh {
	m := &Mesh{}
	mt := material{color: jitterColor(rng, [3]float64{0.55, 0.55, 0.56}, 0.3), spec: 0.1}
	m.box(at(Vec3{0, depth / 2, 0.08}), width, depth, 0.16, mt)
	return m
}

// treeMesh builds a street tree from the ground (origin): a trunk and a
// crown of a few overlapping low-poly blobs. It returns the mesh and the
// boxes that hide what is behind it.
func treeMesh(rng *rand.Rand, hgt float64, segs int, dusk bool) (*Mesh, []OBox) {
	m := &Mesh{}
	bark := material{color: jitterColor(rng, [3]float64{0.3, 0.24, 0.18}, 0.2), spec: 0.02}
	trunkH := hgt * (0.35 + 0.15*rng.Float64())
	m.cylinder(at(Vec3{}), 0.14, 0.1, trunkH+0.5, max(segs/2, 5), false, bark)
	green := jitterColor(rng, [3]float64{0.2, 0.33, 0.14}, 0.25)
	if dusk {
		green = scaleCol(green, 0.7)
	}
	crownR := hgt * (0.22 + 0.08*rng.Float64())
	var occ []OBox
	n := 3 + rng.IntN(3)
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		r := crownR * (0.6 + 0.3*rng.Float64())
		c := Vec3{math.Cos(a) * crownR * 0.45, math.Sin(a) * crownR * 0.45, trunkH + crownR*(0.6+0.5*rng.Float64())}
		if i == 0 {
			c = Vec3{0, 0, trunkH + crownR}
			r = crownR
		}
		m.sphere(at(c), r, 0.85, max(segs*2/3, 6), max(segs/3, 3), 0, math.Pi, false, false,
			material{color: jitterColor(rng, green, 0.15), spec: 0.05})
		h := r * 0.62
		occ = append(occ, OBox{C: c, Axes: [3]Vec3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Half: [3]float64{h, h, h * 0.85}})
	}
	occ = append(occ, OBox{C: Vec3{0, 0, trunkH / 2}, Axes: [3]Vec3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Half: [3]float64{0.12, 0.12, trunkH / 2}})
	return m, occ
}
