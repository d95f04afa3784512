"""GB/T 2260 administrative division codes: the provincial level and the cities of 福建 and 广东.

Pure data; no I/O. A region code is what every node, topic, namespace and database is named by.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent: str | None

    @property
    def level(self) -> str:
        return "province" if self.parent is None else "prefecture"


_PROVINCES = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省",
    "150000": "内蒙古自治区", "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省",
    "310000": "上海市", "320000": "江苏省", "330000": "浙江省", "340000": "安徽省",
    "350000": "福建省", "360000": "江西省", "370000": "山东省", "410000": "河南省",
    "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省",
    "530000": "云南省", "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省",
    "630000": "青海省", "640000": "宁夏回族自治区", "650000": "新疆维吾尔自治区",
    "710000": "台湾省", "810000": "香港特别行政区", "820000": "澳门特别行政区",
}  # fmt: skip

_CITIES = {
    "350000": {
        "350100": "福州市", "350200": "厦门市", "350300": "莆田市", "350400": "三明市",
        "350500": "泉州市", "350600": "漳州市", "350700": "南平市", "350800": "龙岩市",
        "350900": "宁德市",
    },
    "440000": {
        "440100": "广州市", "440200": "韶关市", "440300": "深圳市", "440400": "珠海市",
        "440500": "汕头市", "440600": "佛山市", "440700": "江门市", "440800": "湛江市",
        "440900": "茂名市", "441200": "肇庆市", "441300": "惠州市", "441400": "梅州市",
        "441500": "汕尾市", "441600": "河源市", "441700": "阳江市", "441800": "清远市",
        "441900": "东莞市", "442000": "中山市", "445100": "潮州市", "445200": "揭阳市",
        "445300": "云浮市",
    },
}  # fmt: skip

REGIONS: dict[str, Region] = {
    **{code: Region(code, name, None) for code, name in _PROVINCES.items()},
    **{
        code: Region(code, name, parent)
        for parent, cities in _CITIES.items()
        for code, name in cities.items()
    },
}


class UnknownRegion(KeyError):
    pass


def region(code: str) -> Region:
    try:
        return REGIONS[code]
    except KeyError:
        raise UnknownRegion(f"{code} is not a known GB/T 2260 region code") from None
