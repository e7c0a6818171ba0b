# train/train.mk — training-time targets, included by the top-level Makefile.
#
#   make train-deps   install the fonts and TeX that synthetic data needs
#
# The unit tests do not need any of this: they use whatever fonts
# `make deps` installs and skip the TeX parts when latex is absent.

# Latin text faces for rendered lines: the more families the better the model
# generalises to unseen fonts (Tesseract's lesson, research/training.md §2.2).
# Decorative, handwriting and symbol-only packages are left out on purpose:
# they are not what printed documents use.
TRAIN_FONT_PKGS := fonts-dejavu fonts-liberation fonts-liberation2 \
    fonts-noto-core fonts-noto-mono fonts-urw-base35 fonts-freefont-ttf \
    fonts-crosextra-carlito fonts-crosextra-caladea fonts-linuxlibertine \
    fonts-ebgaramond fonts-ebgaramond-extra fonts-texgyre fonts-lmodern \
    fonts-stix fonts-cmu fonts-open-sans fonts-roboto-unhinted fonts-lato \
    fonts-inconsolata fonts-go fonts-courier-prime fonts-paratype \
    fonts-gfs-didot fonts-junicode fonts-sil-gentiumplus fonts-sil-charis \
    fonts-sil-andika fonts-cantarell fonts-hack fonts-oldstandard \
    fonts-vollkorn fonts-adf-accanthis fonts-adf-baskervald \
    fonts-adf-gillius fonts-adf-universalis fonts-adf-berenis \
    fonts-clear-sans fonts-inter fonts-anonymous-pro fonts-cabin \
    fonts-century-catalogue fonts-jetbrains-mono fonts-firacode

# latex + dvipng render formulas in batches into train/cache/. The math font
# setups: Computer Modern (base), Latin Modern (lmodern), mathptmx, mathpazo,
# txfonts, pxfonts (fonts-recommended); newtxmath, fourier, kpfonts,
# libertine, eulervm, cmbright (fonts-extra: a 500 MB download, but it is
# where those math fonts live in Debian; newtx needs binhex.tex from
# plain-generic).
TRAIN_TEX_PKGS := texlive-latex-base texlive-latex-recommended \
    texlive-fonts-recommended texlive-latex-extra texlive-fonts-extra \
    texlive-plain-generic lmodern dvipng

TRAIN_DEB_PKGS := $(TRAIN_FONT_PKGS) $(TRAIN_TEX_PKGS) fontconfig

.PHONY: train-deps

# Same policy as `make deps`: only what is missing, sudo when not root, no
# network when everything is present; then refresh the font cache so that
# fontconfig sees the new faces.
train-deps:
	@missing=""; for p in $(TRAIN_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "train-deps: all Debian packages present"; exit 0; fi; \
	echo "train-deps: installing$$missing"; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	{ $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }; } && \
	{ $$SUDO fc-cache -s >/dev/null 2>&1 || true; }
