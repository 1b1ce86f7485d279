"""ISO 4217 currencies and the number of minor-unit digits each one has.

Money is held as an integer of minor units, so the digit count decides both how a literal
like ``12.5`` is read and whether ``12.345`` is an error.
"""

from __future__ import annotations

# Active ISO 4217 codes. Most have two minor digits; the exceptions are listed below.
_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split()

_ZERO = set(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_THREE = set("BHD IQD JOD KWD LYD OMR TND".split())
_FOUR = {"CLF", "UYW"}


def _digits(code: str) -> int:
    if code in _ZERO:
        return 0
    if code in _THREE:
        return 3
    if code in _FOUR:
        return 4
    return 2


MINOR_DIGITS: dict[str, int] = {code: _digits(code) for code in _CODES}


def is_currency(code: str) -> bool:
    return code in MINOR_DIGITS


def minor_digits(code: str) -> int:
    """Digits after the decimal point for ``code``; KeyError for an unknown code."""
    return MINOR_DIGITS[code]
