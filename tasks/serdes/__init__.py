"""Task family `serdes`: files of rows converted to and from Ion, Kestra's row format.

Read `conversion.py` first (the source file, text options, the worker that streams a
conversion row by row), then one module per format: `csv_tasks.py` (CsvToIon,
IonToCsv), `json_tasks.py` (JsonToIon, IonToJson) and `xml_tasks.py` (XmlToIon,
IonToXml), core; `excel.py` (IonToExcel,
ExcelToIon), `avro.py` (IonToAvro, AvroToIon) and `parquet.py` (IonToParquet,
ParquetToIon, typed by the same Avro schema) are optional families behind the `serdes`
extra (tasks.OPTIONAL_FAMILIES). Ion itself is `engine/ion.py`:
every task that writes rows (query STORE results, log.Fetch) writes it there.
"""

from tasks.serdes.csv_tasks import CsvToIon, IonToCsv
from tasks.serdes.json_tasks import IonToJson, JsonToIon
from tasks.serdes.xml_tasks import IonToXml, XmlToIon

__all__ = ["TASKS"]

TASKS: tuple[type, ...] = (
    CsvToIon,
    IonToCsv,
    JsonToIon,
    IonToJson,
    XmlToIon,
    IonToXml,
)
