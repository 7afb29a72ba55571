# shellcheck shell=bash
# Sourced by the bench scripts: j1_inputs WORK fetches J1's photos into WORK/inputs once.
# Photos from Debian's plasma-workspace-wallpapers (2560x1600 JPEG). The 12 MP camera-size input
# is made from EveningGlow: scaled to cover 4000x3000, centre-cropped, quality 92.
# Sets: photos (the eight 2560x1600 paths), twelve (the one 4000x3000 path).
J1_PHOTOS=(BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf OneStandsOut Path)
J1_TWELVE_MP_FROM=EveningGlow

j1_inputs() {
  local work=$1
  local photos_dir=$work/inputs/photos twelve_dir=$work/inputs/12mp name
  if [[ ! -f $work/inputs/.complete ]]; then
    rm -rf "$work/inputs" "$work/pkg"
    mkdir -p "$work/deb" "$photos_dir" "$twelve_dir"
    if ! compgen -G "$work/deb/plasma-workspace-wallpapers_*.deb" >/dev/null; then
      (cd "$work/deb" && apt-get download plasma-workspace-wallpapers)
    fi
    dpkg-deb -x "$(compgen -G "$work/deb/plasma-workspace-wallpapers_*.deb" | head -1)" "$work/pkg"
    for name in "${J1_PHOTOS[@]}"; do
      cp "$work/pkg/usr/share/wallpapers/$name/contents/images/2560x1600.jpg" "$photos_dir/$name.jpg"
    done
    /usr/bin/convert -quiet "$photos_dir/$J1_TWELVE_MP_FROM.jpg" -resize '4000x3000^' \
      -gravity center -extent 4000x3000 -quality 92 "$twelve_dir/$J1_TWELVE_MP_FROM-12mp.jpg"
    rm -rf "$work/pkg"
    touch "$work/inputs/.complete"
  fi
  mapfile -t photos < <(printf '%s\n' "$photos_dir"/*.jpg)
  mapfile -t twelve < <(printf '%s\n' "$twelve_dir"/*.jpg)
  if [[ ${#photos[@]} -ne ${#J1_PHOTOS[@]} || ${#twelve[@]} -ne 1 ]]; then
    echo "inputs incomplete; rm -rf $work/inputs" >&2
    return 1
  fi
}
