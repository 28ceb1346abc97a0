#!/bin/sh
# Makes the example recordings the graph files name in `examples:` (../*.yaml), with flite
# (Debian package flite): 16-bit mono WAV, each under 100 KB. The files are committed; run this
# again only to change them (flite's output is the same on every run of the same version).
set -eu
cd "$(dirname "$0")"
flite -voice rms -t "hello world, this is a test." -o rms_hello.wav      # 16 kHz, a male voice
flite -voice slt -t "the weather is nice today." -o slt_weather.wav     # 16 kHz, a female voice
flite -voice kal -t "good morning to you." -o kal_morning_8k.wav        # 8 kHz
ls -l ./*.wav
