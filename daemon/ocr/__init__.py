"""Cloud OCR: the Tencent LicensePlateOCR client, its errors, rate budget and local emulator."""
