// What DBeaver and Metabase do on connect, through the PostgreSQL JDBC driver's
// DatabaseMetaData: list schemas, tables and views, and a table's columns with their types.
// Prints one line per item; the Rust test (crates/cli/tests/proxy_engine.rs) checks them.
//
//   java -cp /usr/share/java/postgresql.jar tests/clients/java/Metadata.java URL USER PASSWORD SCHEMA TABLE
import java.sql.*;

public class Metadata {
  public static void main(String[] args) throws Exception {
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
      DatabaseMetaData m = c.getMetaData();
      System.out.println("product " + m.getDatabaseProductName() + " " + m.getDatabaseProductVersion());
      try (ResultSet r = m.getSchemas()) {
        while (r.next()) System.out.println("schema " + r.getString("TABLE_SCHEM"));
      }
      try (ResultSet r = m.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
        while (r.next()) {
          System.out.println("table " + r.getString("TABLE_SCHEM") + "." + r.getString("TABLE_NAME") + " " + r.getString("TABLE_TYPE"));
        }
      }
      try (ResultSet r = m.getColumns(null, args[3], args[4], "%")) {
        while (r.next()) System.out.println("column " + r.getString("COLUMN_NAME") + " " + r.getString("TYPE_NAME"));
      }
    }
  }
}
