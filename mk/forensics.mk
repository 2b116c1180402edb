# Forensics (locks, diff, excerpt, HTML report): Debian packages for the headless-browser test
# of the HTML report, and a target that refreshes the screenshot kept in docs/.
APT_PACKAGES += chromium fonts-dejavu-core

.PHONY: html-screenshot
## html-screenshot: render the HTML report of the lab's ABBA deadlock and screenshot it into docs/.
html-screenshot: build
	mkdir -p out
	$(BIN_DEBUG) locks --html out/ld-abba.html Tests/Fixtures/logs/locks/ld-abba.log > /dev/null
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1500 \
	  --user-data-dir=out/chromium-profile --screenshot=docs/html-report.png out/ld-abba.html
